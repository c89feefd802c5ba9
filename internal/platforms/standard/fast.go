package standard

import (
	"bytes"
	"encoding/json"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// The fast path decodes a body in one pass, nested objects included, where
// ParseBody's exact path decodes each level from the raw bytes of the one
// above: with encoding/json each level scans its bytes twice, so a
// receiver's bytes were read ten times in a batch. It only answers bodies
// it can take exactly as the exact path would, and only with success:
// anything else (an error, a null, an object key given twice) goes the
// exact way, which names the field at fault. Leaves stay raw and are read
// by the same decoder.

type fastBody struct {
	Events *[]fastEvent `json:"events"`
	fastEvent
}

type fastEvent struct {
	ID         json.RawMessage `json:"id"`
	Type       json.RawMessage `json:"type"`
	OccurredAt json.RawMessage `json:"occurredAt"`
	System     json.RawMessage `json:"system"`
	Order      *wireKey        `json:"order"`
	Data       *fastData       `json:"data"`
}

type fastData struct {
	Amount       json.RawMessage `json:"amount"`
	Currency     json.RawMessage `json:"currency"`
	BuyerIP      json.RawMessage `json:"buyerIp"`
	BuyerID      json.RawMessage `json:"buyerId"`
	BuyerMessage json.RawMessage `json:"buyerMessage"`
	Shop         json.RawMessage `json:"shop"`
	Receiver     *wireReceiver   `json:"receiver"`
	Items        *[]wireItem     `json:"items"`
	Warehouse    json.RawMessage `json:"warehouse"`
	Courier      json.RawMessage `json:"courier"`
	TrackingNo   json.RawMessage `json:"trackingNo"`
	ShipBy       json.RawMessage `json:"shipBy"`
	PromisedBy   json.RawMessage `json:"promisedBy"`
	Reason       json.RawMessage `json:"reason"`
	Station      json.RawMessage `json:"station"`
	Packer       json.RawMessage `json:"packer"`
}

// objectKeys are the keys whose values the fast path decodes as objects
// or arrays: given twice in one object, encoding/json would merge the two
// where the exact path keeps the last.
var objectKeys = [...]string{"events", "order", "data", "receiver", "items"}

// fastParse returns the events of body, or ok false when the exact path
// must decide. body is an object whose text PostgreSQL can store.
func (s *Source) fastParse(body []byte) (events []order.Event, ok bool) {
	// null is absent to one path and an error to the other in places. The
	// key count below reads keys as written: no escapes, and neither the
	// Kelvin sign nor the long s, which encoding/json folds to k and s.
	if bytes.IndexByte(body, '\\') >= 0 || bytes.Contains(body, []byte("null")) || bytes.Contains(body, []byte("\u212a")) || bytes.Contains(body, []byte("\u017f")) {
		return nil, false
	}
	var top fastBody
	if json.Unmarshal(body, &top) != nil {
		return nil, false
	}
	one := []fastEvent{top.fastEvent}
	list := one
	var present [len(objectKeys)]int
	if top.Events != nil {
		list = *top.Events
		present[0] = 1
		if len(list) == 0 || len(list) > s.maxEvents {
			return nil, false
		}
	}
	for i := range list {
		f := &list[i]
		if f.Order != nil {
			present[1]++
		}
		if f.Data != nil {
			present[2]++
			if f.Data.Receiver != nil {
				present[3]++
			}
			if f.Data.Items != nil {
				present[4]++
			}
		}
	}
	// Each key found as often in the text as it was decoded: none was
	// given twice (one written otherwise, as a value or with escapes, only
	// sends the body the exact way).
	if keyCounts(body) != present {
		return nil, false
	}
	events = make([]order.Event, len(list))
	for i := range list {
		e, ok := s.fastEvent(&list[i])
		if !ok {
			return nil, false
		}
		events[i] = e
	}
	return events, true
}

// keyCounts counts, for each of objectKeys, the JSON strings in body that
// spell it, ASCII case folded as encoding/json matches keys.
func keyCounts(body []byte) (n [len(objectKeys)]int) {
	for i := 0; i < len(body); i++ {
		if body[i] != '"' {
			continue
		}
		for k, key := range objectKeys {
			end := i + 1 + len(key)
			if end < len(body) && body[end] == '"' && bytes.EqualFold(body[i+1:end], []byte(key)) {
				n[k]++
			}
		}
	}
	return n
}

// fastEvent is event for a fast-decoded event: the same fields, read the
// same way; ok false for any problem (the exact path then names it).
func (s *Source) fastEvent(f *fastEvent) (order.Event, bool) {
	e := order.Event{Source: s.name}
	d := decoder{}
	e.ID = d.str(f.ID, "id")
	e.Kind = order.Kind(d.str(f.Type, "type"))
	e.OccurredAt = d.time(f.OccurredAt, "occurredAt")
	if wire.Absent(f.System) {
		e.System = e.Kind.DefaultSystem()
	} else {
		e.System = order.System(d.str(f.System, "system"))
	}
	if k := f.Order; k != nil {
		e.Order.Channel = d.str(k.Channel, "order.channel")
		e.Order.OrderNo = d.str(k.OrderNo, "order.orderNo")
	}
	if f.Data != nil {
		d.fastData(f.Data, &e.Data)
	}
	if d.err != nil || e.Validate() != nil {
		return order.Event{}, false
	}
	for _, it := range e.Data.Items {
		if it.Price < 0 {
			return order.Event{}, false
		}
	}
	return e, true
}

func (d *decoder) fastData(w *fastData, out *order.Data) {
	out.Amount = d.money(w.Amount, "data.amount")
	out.Currency = d.str(w.Currency, "data.currency")
	out.BuyerIP = d.str(w.BuyerIP, "data.buyerIp")
	out.BuyerID = d.str(w.BuyerID, "data.buyerId")
	out.BuyerMessage = d.str(w.BuyerMessage, "data.buyerMessage")
	out.Shop = d.str(w.Shop, "data.shop")
	if rw := w.Receiver; rw != nil {
		out.Receiver = &order.Receiver{
			Name:     d.str(rw.Name, "data.receiver.name"),
			Phone:    d.str(rw.Phone, "data.receiver.phone"),
			Province: d.str(rw.Province, "data.receiver.province"),
			City:     d.str(rw.City, "data.receiver.city"),
			District: d.str(rw.District, "data.receiver.district"),
			Address:  d.str(rw.Address, "data.receiver.address"),
		}
	}
	if w.Items != nil && len(*w.Items) > 0 {
		items := *w.Items
		out.Items = make([]order.Item, len(items))
		for i := range items {
			iw := &items[i]
			out.Items[i].SKU = d.str(iw.SKU, "data.items[].sku")
			out.Items[i].Qty = d.int(iw.Qty, "data.items[].qty")
			if m := d.money(iw.Price, "data.items[].price"); m != nil {
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
