package tmall

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/top"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// Message is one TMC message as a relay sends it. ID and UserID are written
// as JSON numbers when they are all digits (TMC ids are int64), else as
// strings. Content is the content object; on the wire it is a JSON string.
// A zero PubTime is left out.
type Message struct {
	ID        string
	Topic     string
	PubTime   time.Time
	PubAppKey string
	UserID    string
	UserNick  string
	Content   json.RawMessage
}

type wireOut struct {
	ID        any    `json:"id"`
	Topic     string `json:"topic"`
	PubTime   string `json:"pub_time,omitempty"`
	PubAppKey string `json:"pub_app_key,omitempty"`
	UserID    any    `json:"user_id,omitempty"`
	UserNick  string `json:"user_nick,omitempty"`
	Content   string `json:"content"`
}

// pubTimeLayout is the TOP layout with fractional seconds when there are
// any, so that a time written and read back is the same instant.
const pubTimeLayout = "2006-01-02 15:04:05.999999999"

func (m Message) wire() (wireOut, error) {
	if !json.Valid(m.Content) || !wire.IsKind(bytes.TrimLeft(m.Content, " \t\r\n"), '{') {
		return wireOut{}, fmt.Errorf("tmall: message %q: content is not a JSON object", wire.Truncate(m.ID, 64))
	}
	w := wireOut{ID: idValue(m.ID), Topic: m.Topic, PubAppKey: m.PubAppKey, UserNick: m.UserNick, Content: string(m.Content)}
	if !m.PubTime.IsZero() {
		w.PubTime = m.PubTime.In(top.Location).Format(pubTimeLayout)
	}
	if m.UserID != "" {
		w.UserID = idValue(m.UserID)
	}
	return w, nil
}

// EncodeMessage writes one message as a relay body (a JSON object).
func EncodeMessage(m Message) ([]byte, error) {
	w, err := m.wire()
	if err != nil {
		return nil, err
	}
	return encode(w)
}

// EncodeBatch writes msgs as a batched relay body (a JSON array).
func EncodeBatch(msgs []Message) ([]byte, error) {
	ws := make([]wireOut, len(msgs))
	for i, m := range msgs {
		var err error
		if ws[i], err = m.wire(); err != nil {
			return nil, err
		}
	}
	return encode(ws)
}

func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("tmall: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// topicOf is the topic a relay uses for each mapped kind.
var topicOf = map[order.Kind]string{
	order.KindCreated:         TopicTradeCreate,
	order.KindPaid:            TopicTradeBuyerPay,
	order.KindCancelled:       TopicTradeClose,
	order.KindAddressChanged:  TopicTradeLogisticsAddressChanged,
	order.KindRefundRequested: TopicRefundCreated,
	order.KindRefundCompleted: TopicRefundSuccess,
}

// MessageFrom builds the TMC message that Parse maps back to e, for
// simulators and tests: the topic of e.Kind, id = e.ID, pub_time =
// e.OccurredAt, user_nick = e.Data.Shop, and in content tid =
// e.Order.OrderNo, buyer_open_uid = e.Data.BuyerID, payment or refund_fee =
// e.Data.Amount in yuan and, for a cancellation, status = e.Data.Reason.
// Facts a TMC message cannot carry (receiver, items …) are left out. It
// fails for kinds TMC does not publish.
func MessageFrom(e order.Event) (Message, error) {
	topic, ok := topicOf[e.Kind]
	if !ok {
		return Message{}, fmt.Errorf("tmall: no topic for kind %q", e.Kind)
	}
	c := map[string]any{"tid": idValue(e.Order.OrderNo)}
	if e.Data.BuyerID != "" {
		c["buyer_open_uid"] = e.Data.BuyerID
	}
	if f := topics[topic].Amount; f != "" && e.Data.Amount != nil {
		c[f] = e.Data.Amount.String()
	}
	if e.Kind == order.KindCancelled && e.Data.Reason != "" {
		c["status"] = e.Data.Reason
	}
	b, err := json.Marshal(c)
	if err != nil {
		return Message{}, fmt.Errorf("tmall: %w", err)
	}
	return Message{ID: e.ID, Topic: topic, PubTime: e.OccurredAt, UserNick: e.Data.Shop, Content: b}, nil
}

// idValue writes an all-digit id of at most 18 digits (always an int64) as
// a JSON number, anything else as a string.
func idValue(s string) any {
	if len(s) > 0 && len(s) <= 18 && wire.Digits([]byte(s)) && (s == "0" || s[0] != '0') {
		return json.Number(s)
	}
	return s
}
