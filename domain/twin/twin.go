// Package twin is an order's digital twin: the merged picture of everything
// every system has reported about one order. Plain Go, no I/O, no clock
// reads: all times come from events.
//
// The twin converges: applying the same set of events in any order, with any
// number of duplicates, gives an identical twin. To get there the timeline is
// a sorted set of entries, deduplicated by (Source, EventID), and everything
// else (stage, per-system status, details, created/updated times) is
// recomputed after each change as a pure fold over that timeline.
package twin

import (
	"cmp"
	"slices"
	"time"

	"github.com/towerhq/tower/domain/order"
)

// Twin is one order's digital twin. It is stored as JSON(B) and round-trips
// through encoding/json exactly. Its derived fields (everything but Key and
// Timeline) are recomputed on every change; do not edit them by hand.
type Twin struct {
	Key   order.Key `json:"key"`
	Stage Stage     `json:"stage"`
	// Systems is the latest report of each system that has reported.
	Systems map[order.System]SystemStatus `json:"systems"`
	// Timeline holds every distinct event, sorted by
	// (At, Kind.Rank(), System, Source, EventID). All entries are kept: an
	// order sees a few dozen events, so no cap is applied.
	Timeline []Entry `json:"timeline"`
	Details  Details `json:"details"`
	// CreatedAt and UpdatedAt are the earliest and latest event times; zero
	// while the timeline is empty.
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// SystemStatus is the latest thing a system reported about the order.
type SystemStatus struct {
	// Status is the kind's status word, e.g. "outbound" for wms.outbound.
	Status  string     `json:"status"`
	At      time.Time  `json:"at"`
	Source  string     `json:"source"`
	EventID string     `json:"eventId"`
	Kind    order.Kind `json:"kind"`
}

// Entry is one event on the twin's timeline.
type Entry struct {
	At        time.Time    `json:"at"`
	Kind      order.Kind   `json:"kind"`
	System    order.System `json:"system"`
	Source    string       `json:"source"`
	EventID   string       `json:"eventId"`
	Recovered bool         `json:"recovered,omitempty"`
	Data      order.Data   `json:"data"`
}

// Details are the order's merged facts: for each field, the value from the
// latest entry (in timeline order) that reported one.
type Details struct {
	Amount       *order.Money    `json:"amount,omitempty"`
	Currency     string          `json:"currency,omitempty"`
	BuyerIP      string          `json:"buyerIp,omitempty"`
	BuyerID      string          `json:"buyerId,omitempty"`
	BuyerMessage string          `json:"buyerMessage,omitempty"`
	Shop         string          `json:"shop,omitempty"`
	Receiver     *order.Receiver `json:"receiver,omitempty"`
	Items        []order.Item    `json:"items,omitempty"`
	Warehouse    string          `json:"warehouse,omitempty"`
	Courier      string          `json:"courier,omitempty"`
	TrackingNo   string          `json:"trackingNo,omitempty"`
	ShipBy       *time.Time      `json:"shipBy,omitempty"`
	PromisedBy   *time.Time      `json:"promisedBy,omitempty"`
}

// New returns the empty twin of order k, at stage CREATED.
func New(k order.Key) *Twin {
	t := &Twin{Key: k}
	t.recompute()
	return t
}

// Apply adds e to the twin and reports whether the twin changed. Events for
// another order (e.Order != t.Key) are ignored. An event whose (Source, ID)
// is already on the timeline changes nothing, unless it sorts before the
// entry there (by time, kind rank, system, then content): then it replaces
// it, so that the outcome never depends on arrival order. Apply expects
// validated events (order.Event.Validate); an event without a System is
// filed under its kind's default system.
func (t *Twin) Apply(e order.Event) (changed bool) {
	if !t.insert(e) {
		return false
	}
	t.recompute()
	return true
}

// ApplyAll applies es and reports whether the twin changed. It recomputes
// once, at the end.
func (t *Twin) ApplyAll(es []order.Event) (changed bool) {
	for i := range es {
		if t.insert(es[i]) {
			changed = true
		}
	}
	if changed {
		t.recompute()
	}
	return changed
}

// Has reports whether an event of kind k is on the timeline.
func (t *Twin) Has(k order.Kind) bool {
	_, ok := t.FirstAt(k)
	return ok
}

// FirstAt is the time of the earliest event of kind k.
func (t *Twin) FirstAt(k order.Kind) (time.Time, bool) {
	for i := range t.Timeline {
		if t.Timeline[i].Kind == k {
			return t.Timeline[i].At, true
		}
	}
	return time.Time{}, false
}

// Clone returns a deep copy of t: nothing is shared.
func (t *Twin) Clone() *Twin {
	if t == nil {
		return nil
	}
	c := *t
	if t.Systems != nil {
		c.Systems = make(map[order.System]SystemStatus, len(t.Systems))
		for k, v := range t.Systems {
			c.Systems[k] = v
		}
	}
	if t.Timeline != nil {
		c.Timeline = make([]Entry, len(t.Timeline))
		for i, e := range t.Timeline {
			e.Data = cloneData(e.Data)
			c.Timeline[i] = e
		}
	}
	c.Details = t.Details.clone()
	return &c
}

// insert adds e to the timeline and reports whether the timeline changed.
func (t *Twin) insert(ev order.Event) bool {
	if ev.Order != t.Key {
		return false
	}
	e := entryOf(ev)
	for i := range t.Timeline {
		old := &t.Timeline[i]
		if old.Source != e.Source || old.EventID != e.EventID {
			continue
		}
		if compareEntries(&e, old) >= 0 {
			return false // the same event, or a variant that loses
		}
		t.Timeline = slices.Delete(t.Timeline, i, i+1)
		break
	}
	i, _ := slices.BinarySearchFunc(t.Timeline, &e, func(a Entry, b *Entry) int { return compareKeys(&a, b) })
	t.Timeline = slices.Insert(t.Timeline, i, e)
	return true
}

// recompute derives everything but Key and Timeline from the timeline.
func (t *Twin) recompute() {
	t.Stage = StageCreated
	if t.Systems == nil {
		t.Systems = make(map[order.System]SystemStatus, len(order.Systems))
	} else {
		clear(t.Systems)
	}
	t.Details = Details{}
	t.CreatedAt, t.UpdatedAt = time.Time{}, time.Time{}
	if len(t.Timeline) == 0 {
		return
	}
	var d order.Data // merged, aliasing timeline data; copied out at the end
	for i := range t.Timeline {
		e := &t.Timeline[i]
		t.Stage = Transition(t.Stage, e.Kind)
		t.Systems[e.System] = SystemStatus{
			Status: e.Kind.Status(), At: e.At, Source: e.Source, EventID: e.EventID, Kind: e.Kind,
		}
		merge(&d, &e.Data)
	}
	t.Details = Details{
		Amount: d.Amount, Currency: d.Currency, BuyerIP: d.BuyerIP, BuyerID: d.BuyerID,
		BuyerMessage: d.BuyerMessage, Shop: d.Shop, Receiver: d.Receiver, Items: d.Items,
		Warehouse: d.Warehouse, Courier: d.Courier, TrackingNo: d.TrackingNo,
		ShipBy: d.ShipBy, PromisedBy: d.PromisedBy,
	}.clone()
	t.CreatedAt = t.Timeline[0].At
	t.UpdatedAt = t.Timeline[len(t.Timeline)-1].At
}

// merge overwrites d's fields with src's non-empty ones.
func merge(d, src *order.Data) {
	if src.Amount != nil {
		d.Amount = src.Amount
	}
	setString(&d.Currency, src.Currency)
	setString(&d.BuyerIP, src.BuyerIP)
	setString(&d.BuyerID, src.BuyerID)
	setString(&d.BuyerMessage, src.BuyerMessage)
	setString(&d.Shop, src.Shop)
	if src.Receiver != nil && *src.Receiver != (order.Receiver{}) {
		d.Receiver = src.Receiver
	}
	if len(src.Items) > 0 {
		d.Items = src.Items
	}
	setString(&d.Warehouse, src.Warehouse)
	setString(&d.Courier, src.Courier)
	setString(&d.TrackingNo, src.TrackingNo)
	if src.ShipBy != nil && !src.ShipBy.IsZero() {
		d.ShipBy = src.ShipBy
	}
	if src.PromisedBy != nil && !src.PromisedBy.IsZero() {
		d.PromisedBy = src.PromisedBy
	}
}

func setString(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func (d Details) clone() Details {
	d.Amount = clonePtr(d.Amount)
	d.Receiver = clonePtr(d.Receiver)
	d.Items = cloneItems(d.Items)
	d.ShipBy = clonePtr(d.ShipBy)
	d.PromisedBy = clonePtr(d.PromisedBy)
	return d
}

// entryOf turns an event into a normalised timeline entry: times in UTC
// without monotonic reading, empty item lists nil, nothing shared with ev.
func entryOf(ev order.Event) Entry {
	sys := ev.System
	if sys == "" {
		sys = ev.Kind.DefaultSystem()
	}
	d := cloneData(ev.Data)
	if d.ShipBy != nil {
		*d.ShipBy = utc(*d.ShipBy)
	}
	if d.PromisedBy != nil {
		*d.PromisedBy = utc(*d.PromisedBy)
	}
	return Entry{
		At: utc(ev.OccurredAt), Kind: ev.Kind, System: sys,
		Source: ev.Source, EventID: ev.ID, Recovered: ev.Recovered, Data: d,
	}
}

// utc strips the monotonic clock reading and sets the location to UTC, so
// that equal instants are equal structs and survive a JSON round trip.
func utc(t time.Time) time.Time { return t.Round(0).UTC() }

func cloneData(d order.Data) order.Data {
	d.Amount = clonePtr(d.Amount)
	d.Receiver = clonePtr(d.Receiver)
	d.Items = cloneItems(d.Items)
	d.ShipBy = clonePtr(d.ShipBy)
	d.PromisedBy = clonePtr(d.PromisedBy)
	return d
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// cloneItems copies items; an empty list becomes nil (as after a JSON round
// trip, where it is omitted).
func cloneItems(items []order.Item) []order.Item {
	if len(items) == 0 {
		return nil
	}
	return slices.Clone(items)
}

// compareKeys orders the timeline: (At, Kind.Rank(), System, Source,
// EventID). Kind itself breaks ties between unknown kinds (rank -1).
func compareKeys(a, b *Entry) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	if a.Kind != b.Kind {
		if c := cmp.Compare(a.Kind.Rank(), b.Kind.Rank()); c != 0 {
			return c
		}
		return cmp.Compare(a.Kind, b.Kind)
	}
	return cmp.Or(
		cmp.Compare(a.System, b.System),
		cmp.Compare(a.Source, b.Source),
		cmp.Compare(a.EventID, b.EventID),
	)
}

// compareEntries is a total order on normalised entries: the timeline order,
// then the rest of the content. It is 0 only for identical entries, so the
// variant of an event that is kept does not depend on arrival order.
func compareEntries(a, b *Entry) int {
	if c := compareKeys(a, b); c != 0 {
		return c
	}
	if a.Recovered != b.Recovered {
		if !a.Recovered {
			return -1
		}
		return 1
	}
	return compareData(&a.Data, &b.Data)
}

func compareData(a, b *order.Data) int {
	return cmp.Or(
		comparePtr(a.Amount, b.Amount, cmp.Compare[order.Money]),
		cmp.Compare(a.Currency, b.Currency),
		cmp.Compare(a.BuyerIP, b.BuyerIP),
		cmp.Compare(a.BuyerID, b.BuyerID),
		cmp.Compare(a.BuyerMessage, b.BuyerMessage),
		cmp.Compare(a.Shop, b.Shop),
		comparePtr(a.Receiver, b.Receiver, compareReceivers),
		slices.CompareFunc(a.Items, b.Items, compareItems),
		cmp.Compare(a.Warehouse, b.Warehouse),
		cmp.Compare(a.Courier, b.Courier),
		cmp.Compare(a.TrackingNo, b.TrackingNo),
		comparePtr(a.ShipBy, b.ShipBy, time.Time.Compare),
		comparePtr(a.PromisedBy, b.PromisedBy, time.Time.Compare),
		cmp.Compare(a.Reason, b.Reason),
		cmp.Compare(a.Station, b.Station),
		cmp.Compare(a.Packer, b.Packer),
	)
}

func comparePtr[T any](a, b *T, f func(T, T) int) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return f(*a, *b)
}

func compareReceivers(a, b order.Receiver) int {
	return cmp.Or(
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Phone, b.Phone),
		cmp.Compare(a.Province, b.Province),
		cmp.Compare(a.City, b.City),
		cmp.Compare(a.District, b.District),
		cmp.Compare(a.Address, b.Address),
	)
}

func compareItems(a, b order.Item) int {
	return cmp.Or(
		cmp.Compare(a.SKU, b.SKU),
		cmp.Compare(a.Qty, b.Qty),
		cmp.Compare(a.Price, b.Price),
	)
}
