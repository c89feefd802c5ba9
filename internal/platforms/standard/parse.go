package standard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// Parse turns a verified request into canonical events; see ParseBody.
// Delivery.ID is the webhook-id header.
func (s *Source) Parse(r *platforms.Request) (*platforms.Delivery, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: no request", platforms.ErrMalformed)
	}
	events, err := s.ParseBody(r.Body)
	if err != nil {
		return nil, err
	}
	return &platforms.Delivery{ID: r.Header.Get(HeaderID), Events: events}, nil
}

// ParseBody reads a body that is either one event object or
// {"events": [...]} with 1..MaxEvents events. Unknown fields are ignored.
// Each event gets Source set to the source's name and, when "system" is
// absent, its type's default system, and must pass (*order.Event).Validate.
//
// Every error wraps platforms.ErrMalformed. Where one field is at fault the
// chain also holds an *order.FieldError naming it: "type" for a single
// event, "events[3].type" in a batch, "events" for an empty or oversized
// batch. Invalid JSON is reported with its byte offset.
func (s *Source) ParseBody(body []byte) ([]order.Event, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty body", platforms.ErrMalformed)
	}
	if path, reason := textProblem(body); path != "" {
		return nil, malformed(wire.FieldErr(path, reason), "")
	}
	if trimmed[0] == '{' {
		if events, ok := s.fastParse(body); ok {
			return events, nil
		}
	}
	return s.parseExact(body, trimmed)
}

// parseExact is ParseBody level by level, naming the field at fault; body
// holds only storable text.
func (s *Source) parseExact(body, trimmed []byte) ([]order.Event, error) {
	var top wireBody
	if err := json.Unmarshal(body, &top); err != nil || trimmed[0] != '{' {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, fmt.Errorf("%w: invalid JSON at byte %d: %s", platforms.ErrMalformed, se.Offset, se)
		}
		return nil, fmt.Errorf("%w: body: want a JSON object", platforms.ErrMalformed)
	}
	if top.Events == nil {
		e, err := s.event(&top.wireEvent)
		if err != nil {
			return nil, malformed(err, "")
		}
		return []order.Event{e}, nil
	}
	if !wire.IsKind(top.Events, '[') {
		return nil, malformed(wire.FieldErr("events", "want an array of events"), "")
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(top.Events, &raws); err != nil {
		return nil, malformed(wire.FieldErr("events", "want an array of events"), "")
	}
	switch {
	case len(raws) == 0:
		return nil, malformed(wire.FieldErr("events", "empty"), "")
	case len(raws) > s.maxEvents:
		return nil, malformed(wire.FieldErr("events", fmt.Sprintf("%d events, at most %d allowed", len(raws), s.maxEvents)), "")
	}
	events := make([]order.Event, len(raws))
	for i, raw := range raws {
		prefix := "events[" + strconv.Itoa(i) + "]"
		var w wireEvent
		if err := decodeObject(raw, &w); err != nil {
			return nil, malformed(wire.FieldErr(prefix, "want an event object"), "")
		}
		e, err := s.event(&w)
		if err != nil {
			return nil, malformed(err, prefix)
		}
		events[i] = e
	}
	return events, nil
}

// The wire shapes keep every field raw so each can be decoded on its own
// and a failure named by its exact path.
type wireEvent struct {
	ID         json.RawMessage `json:"id"`
	Type       json.RawMessage `json:"type"`
	OccurredAt json.RawMessage `json:"occurredAt"`
	System     json.RawMessage `json:"system"`
	Order      json.RawMessage `json:"order"`
	Data       json.RawMessage `json:"data"`
}

type wireBody struct {
	Events json.RawMessage `json:"events"`
	wireEvent
}

type wireKey struct {
	Channel json.RawMessage `json:"channel"`
	OrderNo json.RawMessage `json:"orderNo"`
}

type wireData struct {
	Amount       json.RawMessage `json:"amount"`
	Currency     json.RawMessage `json:"currency"`
	BuyerIP      json.RawMessage `json:"buyerIp"`
	BuyerID      json.RawMessage `json:"buyerId"`
	BuyerMessage json.RawMessage `json:"buyerMessage"`
	Shop         json.RawMessage `json:"shop"`
	Receiver     json.RawMessage `json:"receiver"`
	Items        json.RawMessage `json:"items"`
	Warehouse    json.RawMessage `json:"warehouse"`
	Courier      json.RawMessage `json:"courier"`
	TrackingNo   json.RawMessage `json:"trackingNo"`
	ShipBy       json.RawMessage `json:"shipBy"`
	PromisedBy   json.RawMessage `json:"promisedBy"`
	Reason       json.RawMessage `json:"reason"`
	Station      json.RawMessage `json:"station"`
	Packer       json.RawMessage `json:"packer"`
}

type wireReceiver struct {
	Name     json.RawMessage `json:"name"`
	Phone    json.RawMessage `json:"phone"`
	Province json.RawMessage `json:"province"`
	City     json.RawMessage `json:"city"`
	District json.RawMessage `json:"district"`
	Address  json.RawMessage `json:"address"`
}

type wireItem struct {
	SKU   json.RawMessage `json:"sku"`
	Qty   json.RawMessage `json:"qty"`
	Price json.RawMessage `json:"price"`
}

// event decodes and validates one event. Its error is an *order.FieldError
// with a path relative to the event.
func (s *Source) event(w *wireEvent) (order.Event, error) {
	e := order.Event{Source: s.name}
	d := decoder{}
	e.ID = d.str(w.ID, "id")
	e.Kind = order.Kind(d.str(w.Type, "type"))
	e.OccurredAt = d.time(w.OccurredAt, "occurredAt")
	if wire.Absent(w.System) {
		e.System = e.Kind.DefaultSystem()
	} else {
		e.System = order.System(d.str(w.System, "system"))
	}
	var k wireKey
	if d.object(w.Order, &k, "order") {
		e.Order.Channel = d.str(k.Channel, "order.channel")
		e.Order.OrderNo = d.str(k.OrderNo, "order.orderNo")
	}
	d.data(w.Data, &e.Data)
	if d.err != nil {
		return order.Event{}, d.err
	}
	if err := e.Validate(); err != nil {
		if fe, ok := errors.AsType[*order.FieldError](err); ok && fe.Field == "type" && e.Kind == "" {
			return order.Event{}, wire.FieldErr("type", "required")
		}
		return order.Event{}, err
	}
	for i, it := range e.Data.Items {
		if it.Price < 0 {
			return order.Event{}, wire.FieldErr(fmt.Sprintf("data.items[%d].price", i), "negative")
		}
	}
	return e, nil
}

func (d *decoder) data(raw json.RawMessage, out *order.Data) {
	var w wireData
	if !d.object(raw, &w, "data") {
		return
	}
	out.Amount = d.money(w.Amount, "data.amount")
	out.Currency = d.str(w.Currency, "data.currency")
	out.BuyerIP = d.str(w.BuyerIP, "data.buyerIp")
	out.BuyerID = d.str(w.BuyerID, "data.buyerId")
	out.BuyerMessage = d.str(w.BuyerMessage, "data.buyerMessage")
	out.Shop = d.str(w.Shop, "data.shop")
	var rw wireReceiver
	if d.object(w.Receiver, &rw, "data.receiver") {
		out.Receiver = &order.Receiver{
			Name:     d.str(rw.Name, "data.receiver.name"),
			Phone:    d.str(rw.Phone, "data.receiver.phone"),
			Province: d.str(rw.Province, "data.receiver.province"),
			City:     d.str(rw.City, "data.receiver.city"),
			District: d.str(rw.District, "data.receiver.district"),
			Address:  d.str(rw.Address, "data.receiver.address"),
		}
	}
	if !wire.Absent(w.Items) {
		var raws []json.RawMessage
		if !wire.IsKind(w.Items, '[') || json.Unmarshal(w.Items, &raws) != nil {
			d.fail("data.items", "want an array")
			return
		}
		if len(raws) > 0 {
			out.Items = make([]order.Item, len(raws))
		}
		for i, raw := range raws {
			p := "data.items[" + strconv.Itoa(i) + "]"
			var iw wireItem
			if wire.Absent(raw) || !d.object(raw, &iw, p) {
				d.fail(p, "want an object")
				return
			}
			out.Items[i].SKU = d.str(iw.SKU, p+".sku")
			out.Items[i].Qty = d.int(iw.Qty, p+".qty")
			if m := d.money(iw.Price, p+".price"); m != nil {
				out.Items[i].Price = *m
			}
		}
	}
	out.Warehouse = d.str(w.Warehouse, "data.warehouse")
	out.Courier = d.str(w.Courier, "data.courier")
	out.TrackingNo = d.str(w.TrackingNo, "data.trackingNo")
	if t := d.time(w.ShipBy, "data.shipBy"); !wire.Absent(w.ShipBy) && d.err == nil {
		out.ShipBy = &t
	}
	if t := d.time(w.PromisedBy, "data.promisedBy"); !wire.Absent(w.PromisedBy) && d.err == nil {
		out.PromisedBy = &t
	}
	out.Reason = d.str(w.Reason, "data.reason")
	out.Station = d.str(w.Station, "data.station")
	out.Packer = d.str(w.Packer, "data.packer")
}

// decoder keeps the first field error; later calls are no-ops once one
// failed. A field that is absent or null decodes to its zero value.
type decoder struct{ err error }

func (d *decoder) fail(field, reason string) {
	if d.err == nil {
		d.err = wire.FieldErr(field, reason)
	}
}

func (d *decoder) str(raw json.RawMessage, field string) string {
	if d.err != nil || wire.Absent(raw) {
		return ""
	}
	if s, ok := plainString(raw); ok {
		return s
	}
	var s string
	if !wire.IsKind(raw, '"') || json.Unmarshal(raw, &s) != nil {
		d.fail(field, "want a string")
	}
	return s
}

// plainString is the fast path for a JSON string without escapes, control
// characters or invalid UTF-8, which decodes to its bytes as they are.
func plainString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

func (d *decoder) int(raw json.RawMessage, field string) int {
	if d.err != nil || wire.Absent(raw) {
		return 0
	}
	var n int
	if wire.IsKind(raw, '"') || json.Unmarshal(raw, &n) != nil {
		d.fail(field, "want an integer")
	}
	return n
}

func (d *decoder) time(raw json.RawMessage, field string) (t time.Time) {
	if d.err != nil || wire.Absent(raw) {
		return t
	}
	// time.Time's JSON form is strict RFC 3339 with a zone offset, the
	// same form it marshals to.
	if !wire.IsKind(raw, '"') || json.Unmarshal(raw, &t) != nil {
		d.fail(field, "want an RFC 3339 time with offset, e.g. 2026-11-24T20:00:00+08:00")
	}
	return t
}

func (d *decoder) money(raw json.RawMessage, field string) *order.Money {
	if d.err != nil || wire.Absent(raw) {
		return nil
	}
	var m order.Money
	if c := raw[0]; (c != '"' && c != '-' && (c < '0' || c > '9')) || m.UnmarshalJSON(raw) != nil {
		d.fail(field, `want a decimal string or number with at most 2 places, e.g. "129.90"`)
		return nil
	}
	return &m
}

// object decodes raw into the wire struct out and reports whether it was
// present; null counts as absent.
func (d *decoder) object(raw json.RawMessage, out any, field string) bool {
	if d.err != nil || wire.Absent(raw) {
		return false
	}
	if err := decodeObject(raw, out); err != nil {
		d.fail(field, "want an object")
		return false
	}
	return true
}

func decodeObject(raw json.RawMessage, out any) error {
	if !wire.IsKind(raw, '{') {
		return errors.New("not an object")
	}
	return json.Unmarshal(raw, out)
}

// malformed wraps err in platforms.ErrMalformed, prefixing the path of a
// field error with prefix ("events[3]").
func malformed(err error, prefix string) error {
	if fe, ok := errors.AsType[*order.FieldError](err); ok && prefix != "" {
		err = wire.FieldErr(prefix+"."+fe.Field, fe.Reason)
	}
	return fmt.Errorf("%w: %w", platforms.ErrMalformed, err)
}
