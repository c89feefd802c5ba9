package tmall

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/top"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// topicInfo says what one TMC topic means and, when mapped, how.
type topicInfo struct {
	// Name is the topic's meaning, used in flag reasons.
	Name string
	// Kind is the canonical kind; "" means known but not mapped.
	Kind order.Kind
	// Amount is the content field holding an amount in yuan, if any.
	Amount string
	// Note explains, for a known topic that is not mapped, why.
	Note string
}

// Topic names.
const (
	TopicTradeCreate                    = "taobao_trade_TradeCreate"
	TopicTradeBuyerPay                  = "taobao_trade_TradeBuyerPay"
	TopicTradeClose                     = "taobao_trade_TradeClose"
	TopicTradeCloseAndModifyDetailOrder = "taobao_trade_TradeCloseAndModifyDetailOrder"
	TopicTradeLogisticsAddressChanged   = "taobao_trade_TradeLogisticsAddressChanged"
	TopicRefundCreated                  = "taobao_refund_RefundCreated"
	TopicRefundSuccess                  = "taobao_refund_RefundSuccess"
)

const noteShipped = "corroborates shipment; no canonical kind"

// topics is the mapping, per the reference (platforms.md §2).
var topics = map[string]topicInfo{
	TopicTradeCreate:                    {Name: "order created", Kind: order.KindCreated},
	TopicTradeBuyerPay:                  {Name: "buyer paid", Kind: order.KindPaid, Amount: "payment"},
	TopicTradeClose:                     {Name: "trade closed", Kind: order.KindCancelled},
	TopicTradeCloseAndModifyDetailOrder: {Name: "sub-order closed or modified", Kind: order.KindCancelled},
	TopicTradeLogisticsAddressChanged:   {Name: "address changed", Kind: order.KindAddressChanged},
	TopicRefundCreated:                  {Name: "refund requested", Kind: order.KindRefundRequested, Amount: "refund_fee"},
	TopicRefundSuccess:                  {Name: "refund succeeded", Kind: order.KindRefundCompleted, Amount: "refund_fee"},

	"taobao_trade_TradeSellerShip":              {Name: "seller shipped", Note: noteShipped},
	"taobao_trade_TradePartlySellerShip":        {Name: "seller partly shipped", Note: noteShipped},
	"taobao_trade_TradeSuccess":                 {Name: "buyer confirmed receipt"},
	"taobao_trade_TradeMemoModified":            {Name: "memo modified"},
	"taobao_trade_TradeChanged":                 {Name: "trade changed"},
	"taobao_trade_TradeModifyFee":               {Name: "price modified"},
	"taobao_refund_RefundSellerAgreeAgreement":  {Name: "seller agreed to refund"},
	"taobao_refund_RefundSellerRefuseAgreement": {Name: "seller refused refund"},
	"taobao_refund_RefundBuyerReturnGoods":      {Name: "buyer returned goods"},
	"taobao_refund_RefundClosed":                {Name: "refund closed"},
}

// Currency of every Taobao amount.
const currency = "CNY"

// Parse turns a verified request into canonical events; see ParseBody.
func (s *Source) Parse(r *platforms.Request) (*platforms.Delivery, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: no request", platforms.ErrMalformed)
	}
	return s.ParseBody(r.Body, r.ReceivedAt)
}

// ParseBody reads a relay body: one TMC message object, or a JSON array of
// them. Delivery.ID is the message id of a single message; a batch has
// none, each message being deduplicated by its id, the event id.
//
// Each message of a mapped topic becomes one event with ID = id, Order =
// {channel, content.tid}, OccurredAt = pub_time (GMT+8), else
// content.modified, else receivedAt (the source's clock when zero),
// Data.Shop = user_nick (else user_id) and Data.BuyerID =
// content.buyer_open_uid (else buyer_nick):
//
//	taobao_trade_TradeCreate                     order.created
//	taobao_trade_TradeBuyerPay                   order.paid, Amount = payment (yuan)
//	taobao_trade_TradeClose                      order.cancelled, Reason = status
//	taobao_trade_TradeCloseAndModifyDetailOrder  order.cancelled, Reason names the sub-order
//	taobao_trade_TradeLogisticsAddressChanged    order.address_changed (TMC gives no address)
//	taobao_refund_RefundCreated                  refund.requested, Amount = refund_fee (yuan)
//	taobao_refund_RefundSuccess                  refund.completed, Amount = refund_fee (yuan)
//
// TradeCloseAndModifyDetailOrder is also sent when a sub-order is only
// modified: when its status is given and is not a TRADE_CLOSED* status the
// message is flagged, not mapped to a cancellation.
//
// Every other message is flagged, not dropped: TradeSellerShip and
// TradePartlySellerShip (they corroborate a shipment, but no canonical kind
// says "the channel saw it ship"), the other known topics, unknown topics,
// and messages with a missing or bad field. Only a body that is neither a
// JSON object nor a JSON array is an error, wrapping platforms.ErrMalformed.
func (s *Source) ParseBody(body []byte, receivedAt time.Time) (*platforms.Delivery, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty body", platforms.ErrMalformed)
	}
	var raws []json.RawMessage
	batch := trimmed[0] == '['
	var err error
	if batch {
		err = json.Unmarshal(body, &raws)
	} else {
		var one json.RawMessage
		if err = json.Unmarshal(body, &one); err == nil {
			raws = []json.RawMessage{one}
		}
	}
	if err != nil || (trimmed[0] != '[' && trimmed[0] != '{') {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, fmt.Errorf("%w: invalid JSON at byte %d: %s", platforms.ErrMalformed, se.Offset, se)
		}
		return nil, fmt.Errorf("%w: body: want a TMC message object or an array of them", platforms.ErrMalformed)
	}
	fallback := receivedAt
	if fallback.IsZero() {
		fallback = s.now()
	}
	d := &platforms.Delivery{}
	for i, raw := range raws {
		id, e, flag := s.message(i, raw, fallback)
		if !batch {
			d.ID = id
		}
		if flag != nil {
			d.Flagged = append(d.Flagged, *flag)
			continue
		}
		d.Events = append(d.Events, e)
	}
	return d, nil
}

type wireMsg struct {
	ID       json.RawMessage `json:"id"`
	Topic    json.RawMessage `json:"topic"`
	PubTime  json.RawMessage `json:"pub_time"`
	UserID   json.RawMessage `json:"user_id"`
	UserNick json.RawMessage `json:"user_nick"`
	Content  json.RawMessage `json:"content"`
}

// message maps item i, or says why it is flagged. id is the message id
// when readable.
func (s *Source) message(i int, raw json.RawMessage, fallback time.Time) (string, order.Event, *platforms.Flag) {
	var id string
	flag := func(format string, args ...any) (string, order.Event, *platforms.Flag) {
		return id, order.Event{}, &platforms.Flag{ItemID: id, Reason: fmt.Sprintf(format, args...)}
	}
	var w wireMsg
	if !wire.IsKind(raw, '{') || json.Unmarshal(raw, &w) != nil {
		return flag("item %d: want a message object", i)
	}
	var err error
	if id, err = wire.ID(w.ID); err != nil {
		return flag("item %d: id: %v", i, err)
	}
	if id == "" {
		return flag("item %d: id: required", i)
	}
	topic, err := wire.Str(w.Topic)
	if err != nil || topic == "" {
		return flag("topic: want a topic name such as %q", TopicTradeBuyerPay)
	}
	info, known := topics[topic]
	switch {
	case !known:
		return flag("unknown topic %q", wire.Truncate(topic, 80))
	case info.Kind == "" && info.Note != "":
		return flag("topic %s (%s): %s", topic, info.Name, info.Note)
	case info.Kind == "":
		return flag("known topic %s (%s), not mapped", topic, info.Name)
	}
	content, err := contentObject(w.Content)
	if err != nil {
		return flag("topic %s: content: %v", topic, err)
	}
	e, err := s.event(id, topic, info, &w, content, fallback)
	if err != nil {
		return flag("topic %s: %v", topic, err)
	}
	return id, e, nil
}

// contentObject decodes content: a string holding a JSON object, or
// (leniently) the object itself.
func contentObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	if wire.Absent(raw) {
		return nil, errors.New("required")
	}
	inner := raw
	if wire.IsKind(raw, '"') {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, errors.New("want a JSON object encoded as a string")
		}
		inner = []byte(s)
	}
	var m map[string]json.RawMessage
	if !wire.IsKind(bytes.TrimLeft(inner, " \t\r\n"), '{') || json.Unmarshal(inner, &m) != nil {
		return nil, errors.New("want a JSON object encoded as a string")
	}
	return m, nil
}

// event builds the event of a mapped topic. Its error is an
// *order.FieldError whose field is relative to the message
// ("content.payment").
func (s *Source) event(id, topic string, info topicInfo, w *wireMsg, c map[string]json.RawMessage, fallback time.Time) (order.Event, error) {
	e := order.Event{ID: id, Source: s.name, Kind: info.Kind, System: order.SystemChannel}
	var err error
	if e.Order.OrderNo, err = wire.ID(c["tid"]); err != nil {
		return e, wire.FieldErr("content.tid", err.Error())
	}
	if e.Order.OrderNo == "" {
		return e, wire.FieldErr("content.tid", "required")
	}
	e.Order.Channel = s.channel

	if e.OccurredAt, err = topTime(w.PubTime); err != nil {
		return e, wire.FieldErr("pub_time", err.Error())
	}
	if e.OccurredAt.IsZero() {
		if e.OccurredAt, err = topTime(c["modified"]); err != nil {
			return e, wire.FieldErr("content.modified", err.Error())
		}
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = fallback
	}

	if e.Data.Shop, err = wire.Str(w.UserNick); err != nil {
		return e, wire.FieldErr("user_nick", err.Error())
	}
	if e.Data.Shop == "" {
		if e.Data.Shop, err = wire.ID(w.UserID); err != nil {
			return e, wire.FieldErr("user_id", err.Error())
		}
	}
	if e.Data.BuyerID, err = wire.Str(c["buyer_open_uid"]); err != nil {
		return e, wire.FieldErr("content.buyer_open_uid", err.Error())
	}
	if e.Data.BuyerID == "" {
		if e.Data.BuyerID, err = wire.Str(c["buyer_nick"]); err != nil {
			return e, wire.FieldErr("content.buyer_nick", err.Error())
		}
	}

	if info.Amount != "" {
		m, err := yuan(c[info.Amount])
		if err != nil {
			return e, wire.FieldErr("content."+info.Amount, err.Error())
		}
		if m != nil {
			e.Data.Amount, e.Data.Currency = m, currency
		}
	}
	if info.Kind == order.KindCancelled {
		status, err := wire.Str(c["status"])
		if err != nil {
			return e, wire.FieldErr("content.status", err.Error())
		}
		e.Data.Reason = status
		if topic == TopicTradeCloseAndModifyDetailOrder {
			if status != "" && !strings.HasPrefix(status, "TRADE_CLOSED") {
				return e, wire.FieldErr("content.status", fmt.Sprintf("%q: sub-order modified, not closed", wire.Truncate(status, 40)))
			}
			oid, err := wire.ID(c["oid"])
			if err != nil {
				return e, wire.FieldErr("content.oid", err.Error())
			}
			e.Data.Reason = "sub-order closed"
			if oid != "" {
				e.Data.Reason = "sub-order " + oid + " closed"
			}
			if status != "" {
				e.Data.Reason += " (" + status + ")"
			}
		}
	}
	if err := e.ValidateRef(); err != nil {
		return e, err
	}
	return e, nil
}

// topTime reads a "yyyy-MM-dd HH:mm:ss" GMT+8 string; absent, null and ""
// give the zero time.
func topTime(raw json.RawMessage) (time.Time, error) {
	s, err := wire.Str(raw)
	if err != nil {
		return time.Time{}, errors.New("want yyyy-MM-dd HH:mm:ss (GMT+8)")
	}
	if s == "" {
		return time.Time{}, nil
	}
	t, err := top.ParseTime(s)
	if err != nil {
		return time.Time{}, errors.New("want yyyy-MM-dd HH:mm:ss (GMT+8)")
	}
	return t, nil
}

// yuan reads an amount in yuan, as a decimal string ("129.90") or a JSON
// number; absent, null and "" give nil.
func yuan(raw json.RawMessage) (*order.Money, error) {
	if wire.Absent(raw) {
		return nil, nil
	}
	lit := string(raw)
	if wire.IsKind(raw, '"') {
		s, err := wire.Str(raw)
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, nil
		}
		lit = s
	}
	const want = "want a non-negative amount in yuan with at most 2 decimals"
	if lit == "" || !isDecimal(lit) {
		return nil, errors.New(want)
	}
	m, err := order.ParseMoney(lit)
	if err != nil || m < 0 {
		return nil, errors.New(want)
	}
	return &m, nil
}

// isDecimal accepts digits with at most one '.', and nothing else (no sign,
// exponent or space).
func isDecimal(s string) bool {
	dot := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' && !dot:
			dot = true
		case c < '0' || c > '9':
			return false
		}
	}
	return true
}
