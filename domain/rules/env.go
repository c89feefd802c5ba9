package rules

import (
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
)

// Location is the time zone of every time in Env and of date() literals in
// expressions: China Standard Time (UTC+8), so now.Hour() and
// date("2025-11-11") mean Beijing time. Comparisons and arithmetic do not
// depend on it.
var Location = time.FixedZone("CST", 8*60*60)

// Env is everything an expression sees. The names (expr tags) are listed in
// Names and in the package documentation. Build it with NewEnv.
type Env struct {
	// Event is the event being evaluated; nil when a deadline is evaluated.
	Event *EventEnv `expr:"event"`
	// Order is the order's merged facts (the twin's details).
	Order OrderEnv `expr:"order"`
	// Twin is the per-system picture of the order.
	Twin TwinEnv `expr:"twin"`
	// Features are the stateful counts and means the caller computes.
	Features Features `expr:"features"`
	// Now is the evaluation time, given by the caller.
	Now time.Time `expr:"now"`

	// meter counts the evaluation's work; expressions cannot see it (see
	// MaxSteps). Program.run sets it on its own copy of the Env.
	meter *meter
}

// EventEnv is `event`.
type EventEnv struct {
	Type      string       `expr:"type"`
	System    string       `expr:"system"`
	Source    string       `expr:"source"`
	At        time.Time    `expr:"at"`
	Recovered bool         `expr:"recovered"`
	Data      EventDataEnv `expr:"data"`
}

// EventDataEnv is `event.data`: what the event itself reported.
type EventDataEnv struct {
	Amount       float64 `expr:"amount"`
	BuyerMessage string  `expr:"buyerMessage"`
	Reason       string  `expr:"reason"`
	Warehouse    string  `expr:"warehouse"`
	Courier      string  `expr:"courier"`
	TrackingNo   string  `expr:"trackingNo"`
}

// OrderEnv is `order`: the order's merged facts from every system.
type OrderEnv struct {
	Channel      string      `expr:"channel"`
	OrderNo      string      `expr:"orderNo"`
	Stage        string      `expr:"stage"`
	Amount       float64     `expr:"amount"`
	Currency     string      `expr:"currency"`
	Items        []ItemEnv   `expr:"items"`
	ItemCount    int         `expr:"itemCount"`
	BuyerID      string      `expr:"buyerId"`
	BuyerIP      string      `expr:"buyerIp"`
	BuyerMessage string      `expr:"buyerMessage"`
	Shop         string      `expr:"shop"`
	Warehouse    string      `expr:"warehouse"`
	Courier      string      `expr:"courier"`
	TrackingNo   string      `expr:"trackingNo"`
	ShipBy       *time.Time  `expr:"shipBy"`
	PromisedBy   *time.Time  `expr:"promisedBy"`
	Receiver     ReceiverEnv `expr:"receiver"`
}

// ItemEnv is one element of `order.items`.
type ItemEnv struct {
	SKU   string  `expr:"sku"`
	Qty   int     `expr:"qty"`
	Price float64 `expr:"price"`
}

// ReceiverEnv is `order.receiver`; empty strings when unknown.
type ReceiverEnv struct {
	Name     string `expr:"name"`
	Phone    string `expr:"phone"`
	Province string `expr:"province"`
	City     string `expr:"city"`
	District string `expr:"district"`
	Address  string `expr:"address"`
}

// TwinEnv is `twin`: each system's latest status word and time.
type TwinEnv struct {
	Channel string               `expr:"channel"`
	ERP     string               `expr:"erp"`
	WMS     string               `expr:"wms"`
	Courier string               `expr:"courier"`
	At      map[string]time.Time `expr:"at"`
	Stage   string               `expr:"stage"`
	// Has and FirstAt are functions so that expressions can call them;
	// NewEnv binds them to the twin.
	Has     func(kind string) bool      `expr:"has"`
	FirstAt func(kind string) time.Time `expr:"firstAt"`
}

// Features are the stateful signals a rule may use. The counts and means
// come from history only the caller has (other orders), so the caller
// computes them incrementally and passes them in. The four time fields
// (MinutesSincePaid, MinutesSinceOutbound, MinutesInStage,
// LastCourierUpdateMinutes) depend only on the twin and now: NewEnv
// computes them and overwrites what the caller set.
type Features struct {
	// OrdersFromIP1h counts orders from the buyer IP in the last hour,
	// this one included.
	OrdersFromIP1h int `expr:"ordersFromIp1h"`
	// OrdersFromPhone1h counts orders to the receiver phone in the last hour,
	// this one included.
	OrdersFromPhone1h int `expr:"ordersFromPhone1h"`
	// OrdersFromAddress1h counts orders to the receiver address in the last
	// hour, this one included.
	OrdersFromAddress1h int `expr:"ordersFromAddress1h"`
	// SamePhoneAddressItem10m counts orders with the same phone, address and
	// first SKU in the last 10 minutes, this one included.
	SamePhoneAddressItem10m int `expr:"samePhoneAddressItem10m"`
	// BuyerOrderCount and BuyerMeanAmount (yuan) describe the buyer's
	// earlier orders, this one excluded.
	BuyerOrderCount int     `expr:"buyerOrderCount"`
	BuyerMeanAmount float64 `expr:"buyerMeanAmount"`
	// ShopOrderCount and ShopMeanAmount (yuan) describe the shop's earlier
	// orders, this one excluded.
	ShopOrderCount int     `expr:"shopOrderCount"`
	ShopMeanAmount float64 `expr:"shopMeanAmount"`
	// SKUOrderCount and SKUMeanAmount (yuan) describe the shop's earlier
	// paid orders whose main item is this order's main item.
	SKUOrderCount int     `expr:"skuOrderCount"`
	SKUMeanAmount float64 `expr:"skuMeanAmount"`
	// MinutesSincePaid: minutes since order.paid; -1 if not paid.
	MinutesSincePaid float64 `expr:"minutesSincePaid"`
	// MinutesSinceOutbound: minutes since wms.outbound; -1 if none.
	MinutesSinceOutbound float64 `expr:"minutesSinceOutbound"`
	// MinutesInStage: minutes since the order entered its current stage;
	// -1 if the twin has no events.
	MinutesInStage float64 `expr:"minutesInStage"`
	// LastCourierUpdateMinutes: minutes since the latest courier event; -1
	// if none.
	LastCourierUpdateMinutes float64 `expr:"lastCourierUpdateMinutes"`
}

// NewEnv builds the environment for evaluating rules on event e (nil for a
// deadline) against twin t (the twin after e was applied) at time now. When
// t is nil, the twin is built from e alone. NewEnv does not keep e, t or
// their slices and maps: the Env stays valid when they change, except for
// twin.has and twin.firstAt, which read t when called. The time fields of f
// are computed here from t and now (see Features).
func NewEnv(e *order.Event, t *twin.Twin, f Features, now time.Time) Env {
	if t == nil {
		if e != nil {
			t = twin.New(e.Order)
			t.Apply(*e)
		} else {
			t = twin.New(order.Key{})
		}
	}
	env := Env{
		Order:    orderEnv(t),
		Twin:     twinEnv(t),
		Features: f,
		Now:      now.In(Location),
	}
	if e != nil {
		env.Event = eventEnv(e)
	}
	env.Features.MinutesSincePaid = minutesSince(t, order.KindPaid, now)
	env.Features.MinutesSinceOutbound = minutesSince(t, order.KindWMSOutbound, now)
	env.Features.MinutesInStage = minutesInStage(t, now)
	env.Features.LastCourierUpdateMinutes = -1
	if s, ok := t.Systems[order.SystemCourier]; ok {
		env.Features.LastCourierUpdateMinutes = minutesBetween(s.At, now)
	}
	return env
}

func eventEnv(e *order.Event) *EventEnv {
	sys := e.System
	if sys == "" {
		sys = e.Kind.DefaultSystem()
	}
	ev := &EventEnv{
		Type:      string(e.Kind),
		System:    string(sys),
		Source:    e.Source,
		At:        e.OccurredAt.In(Location),
		Recovered: e.Recovered,
		Data: EventDataEnv{
			BuyerMessage: e.Data.BuyerMessage,
			Reason:       e.Data.Reason,
			Warehouse:    e.Data.Warehouse,
			Courier:      e.Data.Courier,
			TrackingNo:   e.Data.TrackingNo,
		},
	}
	if e.Data.Amount != nil {
		ev.Data.Amount = e.Data.Amount.Yuan()
	}
	return ev
}

func orderEnv(t *twin.Twin) OrderEnv {
	d := &t.Details
	o := OrderEnv{
		Channel:      t.Key.Channel,
		OrderNo:      t.Key.OrderNo,
		Stage:        string(t.Stage),
		Currency:     d.Currency,
		BuyerID:      d.BuyerID,
		BuyerIP:      d.BuyerIP,
		BuyerMessage: d.BuyerMessage,
		Shop:         d.Shop,
		Warehouse:    d.Warehouse,
		Courier:      d.Courier,
		TrackingNo:   d.TrackingNo,
		ShipBy:       localPtr(d.ShipBy),
		PromisedBy:   localPtr(d.PromisedBy),
	}
	if d.Amount != nil {
		o.Amount = d.Amount.Yuan()
	}
	if len(d.Items) > 0 {
		o.Items = make([]ItemEnv, len(d.Items))
		for i, it := range d.Items {
			o.Items[i] = ItemEnv{SKU: it.SKU, Qty: it.Qty, Price: it.Price.Yuan()}
			o.ItemCount += it.Qty
		}
	}
	if r := d.Receiver; r != nil {
		o.Receiver = ReceiverEnv{
			Name: r.Name, Phone: r.Phone, Province: r.Province,
			City: r.City, District: r.District, Address: r.Address,
		}
	}
	return o
}

func twinEnv(t *twin.Twin) TwinEnv {
	te := TwinEnv{
		Channel: t.Systems[order.SystemChannel].Status,
		ERP:     t.Systems[order.SystemERP].Status,
		WMS:     t.Systems[order.SystemWMS].Status,
		Courier: t.Systems[order.SystemCourier].Status,
		At:      make(map[string]time.Time, len(t.Systems)),
		Stage:   string(t.Stage),
		Has:     func(kind string) bool { return t.Has(order.Kind(kind)) },
		FirstAt: func(kind string) time.Time {
			at, _ := t.FirstAt(order.Kind(kind))
			if at.IsZero() {
				return at
			}
			return at.In(Location)
		},
	}
	for s, st := range t.Systems {
		te.At[string(s)] = st.At.In(Location)
	}
	return te
}

func localPtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	l := t.In(Location)
	return &l
}

// minutesBetween is the minutes from then to now, never negative (clock
// skew between systems).
func minutesBetween(then, now time.Time) float64 {
	return max(now.Sub(then).Minutes(), 0)
}

func minutesSince(t *twin.Twin, k order.Kind, now time.Time) float64 {
	at, ok := t.FirstAt(k)
	if !ok {
		return -1
	}
	return minutesBetween(at, now)
}

// minutesInStage replays the timeline to find when the current stage was
// entered: the first entry, or the last one that changed the stage.
func minutesInStage(t *twin.Twin, now time.Time) float64 {
	if len(t.Timeline) == 0 {
		return -1
	}
	stage, since := twin.StageCreated, t.Timeline[0].At
	for i := range t.Timeline {
		if next := twin.Transition(stage, t.Timeline[i].Kind); next != stage {
			stage, since = next, t.Timeline[i].At
		}
	}
	return minutesBetween(since, now)
}
