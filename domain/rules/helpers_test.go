package rules

import (
	"fmt"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
)

// t0 is when the test order is created.
var t0 = time.Date(2025, 11, 11, 2, 0, 0, 0, time.UTC)

var testKey = order.Key{Channel: order.ChannelTmall, OrderNo: "TB20251111001"}

func money(yuan float64) *order.Money {
	m := order.Money(yuan*100 + 0.5)
	return &m
}

func timePtr(t time.Time) *time.Time { return &t }

// opt edits an event.
type opt func(*order.Event)

func sys(s order.System) opt { return func(e *order.Event) { e.System = s } }
func source(s string) opt {
	return func(e *order.Event) { e.Source = s }
}
func recovered() opt               { return func(e *order.Event) { e.Recovered = true } }
func data(f func(*order.Data)) opt { return func(e *order.Event) { f(&e.Data) } }

func receiver(f func(*order.Receiver)) opt {
	return data(func(d *order.Data) {
		r := *typicalReceiver()
		f(&r)
		d.Receiver = &r
	})
}

func typicalReceiver() *order.Receiver {
	return &order.Receiver{
		Name: "张三", Phone: "13800138000", Province: "浙江省", City: "杭州市",
		District: "西湖区", Address: "文三路90号5栋301室",
	}
}

// ev is an event of kind k at t0+at for the test order.
func ev(k order.Kind, at time.Duration, opts ...opt) order.Event {
	e := order.Event{
		ID:         fmt.Sprintf("%s@%s", k, at),
		Source:     "test",
		Kind:       k,
		System:     k.DefaultSystem(),
		OccurredAt: t0.Add(at),
		Order:      testKey,
	}
	for _, o := range opts {
		o(&e)
	}
	return e
}

// created is a typical order.created: 199 yuan, one line, a good address,
// ship by t0+48h, delivery promised by t0+96h.
func created(opts ...opt) order.Event {
	base := []opt{data(func(d *order.Data) {
		d.Amount = money(199)
		d.Currency = "CNY"
		d.BuyerIP = "10.1.2.3"
		d.BuyerID = "buyer-1"
		d.Shop = "旗舰店"
		d.Receiver = typicalReceiver()
		d.Items = []order.Item{{SKU: "SKU-1", Qty: 1, Price: 19900}}
		d.ShipBy = timePtr(t0.Add(48 * time.Hour))
		d.PromisedBy = timePtr(t0.Add(96 * time.Hour))
	})}
	return ev(order.KindCreated, 0, append(base, opts...)...)
}

func paid(opts ...opt) order.Event { return ev(order.KindPaid, time.Minute, opts...) }

// happy is the happy path up to and including kind last.
func happy(last order.Kind) []order.Event {
	steps := []struct {
		k  order.Kind
		at time.Duration
	}{
		{order.KindPaid, time.Minute},
		{order.KindWMSReceived, 5 * time.Minute},
		{order.KindWMSPicked, time.Hour},
		{order.KindWMSPacked, 2 * time.Hour},
		{order.KindWMSOutbound, 3 * time.Hour},
		{order.KindCollected, 4 * time.Hour},
		{order.KindInTransit, 10 * time.Hour},
		{order.KindOutForDelivery, 30 * time.Hour},
		{order.KindDelivered, 32 * time.Hour},
	}
	es := []order.Event{created()}
	if last == order.KindCreated {
		return es
	}
	for _, s := range steps {
		es = append(es, ev(s.k, s.at))
		if s.k == last {
			return es
		}
	}
	panic("not a happy-path kind: " + string(last))
}

func plus(es []order.Event, more ...order.Event) []order.Event {
	return append(append([]order.Event(nil), es...), more...)
}

// twinOf applies es to a new twin.
func twinOf(es ...order.Event) *twin.Twin {
	t := twin.New(testKey)
	for _, e := range es {
		if err := e.Validate(); err != nil {
			panic(err)
		}
		t.Apply(e)
	}
	return t
}
