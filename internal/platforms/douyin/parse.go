package douyin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// tagInfo says what one Douyin tag means and, when mapped, how.
type tagInfo struct {
	// Name is the tag's meaning, used in flag reasons.
	Name string
	// Kind is the canonical kind; "" means the tag is known but not mapped.
	Kind order.Kind
	// Time is the data field holding the event time (unix seconds).
	Time string
	// Amount is the data field holding an amount in fen, if any.
	Amount string
	// Note explains, for a known tag that is not mapped, why.
	Note string
}

const noteShipped = "corroborates shipment; no canonical kind"

// tags is the mapping, per the reference (platforms.md §1).
var tags = map[string]tagInfo{
	"100": {Name: "order created", Kind: order.KindCreated, Time: "create_time"},
	"101": {Name: "order paid", Kind: order.KindPaid, Time: "pay_time", Amount: "pay_amount"},
	"105": {Name: "receiver address changed", Kind: order.KindAddressChanged, Time: "update_time"},
	"106": {Name: "order cancelled", Kind: order.KindCancelled, Time: "cancel_time"},
	"200": {Name: "after-sale opened", Kind: order.KindRefundRequested, Time: "apply_time", Amount: "refund_amount"},
	"206": {Name: "refund succeeded", Kind: order.KindRefundCompleted, Time: "success_time", Amount: "refund_amount"},

	"102": {Name: "seller shipped", Note: noteShipped},
	"108": {Name: "seller partly shipped", Note: noteShipped},
	"103": {Name: "trade completed"},
	"104": {Name: "shipping info changed"},
	"110": {Name: "paid, pending processing"},
	"201": {Name: "refund agreed"},
	"202": {Name: "return agreed"},
	"203": {Name: "buyer returned goods"},
	"204": {Name: "refund refused"},
	"207": {Name: "after-sale closed"},
}

// Currency of every Douyin amount.
const currency = "CNY"

// Parse turns a verified push into canonical events; see ParseBody.
// Delivery.ID is empty: Douyin has no delivery id, and each message is
// deduplicated by its msg_id, the event id.
func (s *Source) Parse(r *platforms.Request) (*platforms.Delivery, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: no request", platforms.ErrMalformed)
	}
	return s.ParseBody(r.Body, r.ReceivedAt)
}

// ParseBody reads a push body: a JSON array of {"tag","msg_id","data"},
// data being a JSON object encoded as a string (an object as such is
// accepted too). Each message of a mapped tag becomes one event with
// ID = msg_id, Order = {channel, p_id}, Data.Shop = shop_id and
// OccurredAt = the tag's time field (unix seconds), or receivedAt when
// absent (or the source's clock when receivedAt is zero):
//
//	100 order created           order.created          create_time
//	101 order paid              order.paid             pay_time, Amount = pay_amount (fen)
//	105 address changed         order.address_changed  update_time, Receiver = receiver_msg
//	106 order cancelled         order.cancelled        cancel_time, Reason = cancel_reason
//	200 after-sale opened       refund.requested       apply_time, Amount = refund_amount
//	206 refund succeeded        refund.completed       success_time, Amount = refund_amount
//
// Every other message is flagged, not dropped: 102/108 (shipped: they
// corroborate a shipment, but no canonical kind says "the channel saw it
// ship"), the known tags 103, 104, 110, 201-204 and 207, unknown tags, and
// messages of a mapped tag with a missing or bad field. Only a body that is
// not a JSON array is an error, wrapping platforms.ErrMalformed.
func (s *Source) ParseBody(body []byte, receivedAt time.Time) (*platforms.Delivery, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty body", platforms.ErrMalformed)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil || trimmed[0] != '[' {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, fmt.Errorf("%w: invalid JSON at byte %d: %s", platforms.ErrMalformed, se.Offset, se)
		}
		return nil, fmt.Errorf("%w: body: want a JSON array of messages", platforms.ErrMalformed)
	}
	fallback := receivedAt
	if fallback.IsZero() {
		fallback = s.now()
	}
	d := &platforms.Delivery{}
	for i, raw := range raws {
		e, flag := s.message(i, raw, fallback)
		if flag != nil {
			d.Flagged = append(d.Flagged, *flag)
			continue
		}
		d.Events = append(d.Events, e)
	}
	return d, nil
}

type wireMsg struct {
	Tag   json.RawMessage `json:"tag"`
	MsgID json.RawMessage `json:"msg_id"`
	Data  json.RawMessage `json:"data"`
}

// message maps item i, or says why it is flagged.
func (s *Source) message(i int, raw json.RawMessage, fallback time.Time) (order.Event, *platforms.Flag) {
	flag := func(id, format string, args ...any) (order.Event, *platforms.Flag) {
		return order.Event{}, &platforms.Flag{ItemID: id, Reason: fmt.Sprintf(format, args...)}
	}
	var w wireMsg
	if !wire.IsKind(raw, '{') || json.Unmarshal(raw, &w) != nil {
		return flag("", "item %d: want a message object", i)
	}
	id, err := wire.ID(w.MsgID)
	if err != nil {
		return flag("", "item %d: msg_id: %v", i, err)
	}
	if id == "" {
		return flag("", "item %d: msg_id: required", i)
	}
	tag, err := wire.ID(w.Tag)
	if err != nil || tag == "" {
		return flag(id, "tag: want a tag code such as \"101\"")
	}
	info, known := tags[tag]
	switch {
	case !known:
		return flag(id, "unknown tag %q", wire.Truncate(tag, 32))
	case info.Kind == "" && info.Note != "":
		return flag(id, "tag %s (%s): %s", tag, info.Name, info.Note)
	case info.Kind == "":
		return flag(id, "known tag %s (%s), not mapped", tag, info.Name)
	}
	data, err := dataObject(w.Data)
	if err != nil {
		return flag(id, "tag %s: data: %v", tag, err)
	}
	e, err := s.event(id, info, data, fallback)
	if err != nil {
		return flag(id, "tag %s: %v", tag, err)
	}
	return e, nil
}

// dataObject decodes data: a string holding a JSON object, or (leniently)
// the object itself.
func dataObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
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

// event builds the event of a mapped tag. Its error is an *order.FieldError
// whose field is relative to the message ("data.pay_amount").
func (s *Source) event(id string, info tagInfo, data map[string]json.RawMessage, fallback time.Time) (order.Event, error) {
	e := order.Event{ID: id, Source: s.name, Kind: info.Kind, System: order.SystemChannel}
	var err error
	if e.Order.OrderNo, err = wire.ID(data["p_id"]); err != nil {
		return e, wire.FieldErr("data.p_id", err.Error())
	}
	if e.Order.OrderNo == "" {
		return e, wire.FieldErr("data.p_id", "required")
	}
	e.Order.Channel = s.channel
	if e.Data.Shop, err = wire.ID(data["shop_id"]); err != nil {
		return e, wire.FieldErr("data.shop_id", err.Error())
	}
	t, err := unixTime(data[info.Time])
	if err != nil {
		return e, wire.FieldErr("data."+info.Time, err.Error())
	}
	if t.IsZero() {
		t = fallback
	}
	e.OccurredAt = t
	if info.Amount != "" {
		m, err := fen(data[info.Amount])
		if err != nil {
			return e, wire.FieldErr("data."+info.Amount, err.Error())
		}
		if m != nil {
			e.Data.Amount, e.Data.Currency = m, currency
		}
	}
	switch info.Kind {
	case order.KindCancelled:
		if e.Data.Reason, err = wire.Str(data["cancel_reason"]); err != nil {
			return e, wire.FieldErr("data.cancel_reason", err.Error())
		}
	case order.KindAddressChanged:
		if e.Data.Receiver, err = receiver(data["receiver_msg"]); err != nil {
			return e, err
		}
	}
	if err := e.ValidateRef(); err != nil {
		return e, err
	}
	return e, nil
}

// wireReceiver is receiver_msg. addr is a JSON string holding
// {"province":{"name":…},"city":{…},"town":{…},"street":{…},"detail":"…"};
// each place may also come as a plain string.
type wireReceiver struct {
	Name json.RawMessage `json:"name"`
	Tel  json.RawMessage `json:"tel"`
	Addr json.RawMessage `json:"addr"`
}

type wireAddr struct {
	Province json.RawMessage `json:"province"`
	City     json.RawMessage `json:"city"`
	Town     json.RawMessage `json:"town"`
	Street   json.RawMessage `json:"street"`
	Detail   json.RawMessage `json:"detail"`
}

// receiver reads receiver_msg defensively: an absent receiver_msg gives
// nil (the address changed, Douyin did not say to what), an addr that is
// not JSON is kept whole as the street address.
func receiver(raw json.RawMessage) (*order.Receiver, error) {
	if wire.Absent(raw) {
		return nil, nil
	}
	if wire.IsKind(raw, '"') { // a receiver_msg encoded as a string, like data
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, wire.FieldErr("data.receiver_msg", "want an object")
		}
		raw = json.RawMessage(s)
	}
	var w wireReceiver
	if !wire.IsKind(raw, '{') || json.Unmarshal(raw, &w) != nil {
		return nil, wire.FieldErr("data.receiver_msg", "want an object")
	}
	r := &order.Receiver{}
	var err error
	if r.Name, err = wire.Str(w.Name); err != nil {
		return nil, wire.FieldErr("data.receiver_msg.name", err.Error())
	}
	if r.Phone, err = wire.Str(w.Tel); err != nil {
		return nil, wire.FieldErr("data.receiver_msg.tel", err.Error())
	}
	if wire.Absent(w.Addr) {
		return r, nil
	}
	addr := w.Addr
	if wire.IsKind(addr, '"') {
		var s string
		if json.Unmarshal(addr, &s) != nil {
			return nil, wire.FieldErr("data.receiver_msg.addr", "want a string")
		}
		t := strings.TrimSpace(s)
		if !strings.HasPrefix(t, "{") || !json.Valid([]byte(t)) {
			r.Address = s // not JSON: free text
			return r, nil
		}
		addr = json.RawMessage(t)
	}
	var a wireAddr
	if !wire.IsKind(addr, '{') || json.Unmarshal(addr, &a) != nil {
		return nil, wire.FieldErr("data.receiver_msg.addr", "want an address object")
	}
	for _, p := range [...]struct {
		raw   json.RawMessage
		out   *string
		field string
	}{
		{a.Province, &r.Province, "province"},
		{a.City, &r.City, "city"},
		{a.Town, &r.District, "town"},
	} {
		if *p.out, err = place(p.raw); err != nil {
			return nil, wire.FieldErr("data.receiver_msg.addr."+p.field, err.Error())
		}
	}
	street, err := place(a.Street)
	if err != nil {
		return nil, wire.FieldErr("data.receiver_msg.addr.street", err.Error())
	}
	detail, err := wire.Str(a.Detail)
	if err != nil {
		return nil, wire.FieldErr("data.receiver_msg.addr.detail", err.Error())
	}
	r.Address = detail
	if street != "" && !strings.HasPrefix(detail, street) {
		r.Address = street + detail
	}
	return r, nil
}

// place reads {"name":"浙江省","id":"33"} or "浙江省".
func place(raw json.RawMessage) (string, error) {
	if wire.Absent(raw) {
		return "", nil
	}
	if wire.IsKind(raw, '{') {
		var p struct {
			Name json.RawMessage `json:"name"`
		}
		if json.Unmarshal(raw, &p) != nil {
			return "", errors.New("want a string or {\"name\":…}")
		}
		s, err := wire.Str(p.Name)
		if err != nil {
			return "", errors.New("want a string or {\"name\":…}")
		}
		return s, nil
	}
	s, err := wire.Str(raw)
	if err != nil {
		return "", errors.New("want a string or {\"name\":…}")
	}
	return s, nil
}

// maxUnix is 9999-12-31T23:59:59Z.
const maxUnix = 253402300799

// unixTime reads unix seconds, as an integer or a string of digits. Absent,
// null, "" and 0 give the zero time.
func unixTime(raw json.RawMessage) (time.Time, error) {
	n, present, err := integer(raw)
	switch {
	case err != nil:
		return time.Time{}, errors.New("want unix seconds")
	case !present || n == 0:
		return time.Time{}, nil
	case n > maxUnix:
		return time.Time{}, errors.New("unix seconds out of range")
	}
	return time.Unix(n, 0).UTC(), nil
}

// fen reads an amount in fen, as an integer or a string of digits. Absent
// or null gives nil.
func fen(raw json.RawMessage) (*order.Money, error) {
	n, present, err := integer(raw)
	switch {
	case err != nil:
		return nil, errors.New("want a non-negative integer number of fen")
	case !present:
		return nil, nil
	case n > 1e15:
		return nil, errors.New("amount out of range")
	}
	m := order.Money(n)
	return &m, nil
}

// integer reads a non-negative integer given as a JSON number or a string
// of digits; absent, null and "" are not present.
func integer(raw json.RawMessage) (n int64, present bool, err error) {
	if wire.Absent(raw) {
		return 0, false, nil
	}
	lit := []byte(raw)
	if wire.IsKind(raw, '"') {
		s, err := wire.Str(raw)
		if err != nil {
			return 0, false, err
		}
		if s == "" {
			return 0, false, nil
		}
		lit = []byte(s)
	}
	if !wire.Digits(lit) {
		return 0, false, errors.New("not an integer")
	}
	n, err = strconv.ParseInt(string(lit), 10, 64)
	if err != nil {
		return 0, false, err
	}
	return n, true, nil
}
