package twin

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
)

var (
	testKey = order.Key{Channel: order.ChannelTmall, OrderNo: "T1001"}
	t0      = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
)

func money(m order.Money) *order.Money { return &m }
func at(min int) time.Time             { return t0.Add(time.Duration(min) * time.Minute) }
func ptime(t time.Time) *time.Time     { return &t }

// ev builds an event of testKey, min minutes after t0, reported by the
// kind's default system through a source named after that system.
func ev(id string, k order.Kind, min int, d order.Data) order.Event {
	sys := k.DefaultSystem()
	return order.Event{
		ID: id, Source: string(sys) + "-src", Kind: k, System: sys,
		OccurredAt: at(min), Order: testKey, Data: d,
	}
}

// lifecycle is a full happy path with data along the way.
func lifecycle() []order.Event {
	recv := &order.Receiver{Name: "张三", Phone: "13800001234", Province: "浙江", City: "杭州", Address: "文一西路 1 号"}
	return []order.Event{
		ev("c1", order.KindCreated, 0, order.Data{
			Amount: money(12990), Currency: "CNY", BuyerID: "b-1", BuyerIP: "10.0.0.1", Shop: "flagship",
			Receiver: recv, Items: []order.Item{{SKU: "SKU-1", Qty: 1, Price: 12990}},
			ShipBy: ptime(at(48 * 60)), PromisedBy: ptime(at(72 * 60)),
		}),
		ev("c2", order.KindPaid, 1, order.Data{Amount: money(12990)}),
		ev("w1", order.KindWMSReceived, 10, order.Data{Warehouse: "HZ-01"}),
		ev("w2", order.KindWMSPicked, 60, order.Data{Warehouse: "HZ-01"}),
		ev("w3", order.KindWMSPacked, 90, order.Data{}),
		ev("w4", order.KindWMSOutbound, 120, order.Data{Courier: "SF", TrackingNo: "SF123"}),
		ev("k1", order.KindCollected, 180, order.Data{Courier: "SF", TrackingNo: "SF123"}),
		ev("k2", order.KindInTransit, 600, order.Data{}),
		ev("k3", order.KindOutForDelivery, 1400, order.Data{}),
		ev("k4", order.KindDelivered, 1500, order.Data{}),
	}
}

func build(es ...order.Event) *Twin {
	tw := New(testKey)
	for _, e := range es {
		tw.Apply(e)
	}
	return tw
}

// fataler is what roundTrip needs of *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

func roundTrip(t fataler, tw *Twin) *Twin {
	t.Helper()
	b, err := json.Marshal(tw)
	if err != nil {
		t.Fatal(err)
	}
	var out Twin
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestNew(t *testing.T) {
	tw := New(testKey)
	if tw.Key != testKey || tw.Stage != StageCreated || len(tw.Timeline) != 0 || len(tw.Systems) != 0 {
		t.Fatalf("New = %+v", tw)
	}
	if !tw.CreatedAt.IsZero() || !tw.UpdatedAt.IsZero() {
		t.Errorf("times set on empty twin: %v %v", tw.CreatedAt, tw.UpdatedAt)
	}
	if got := roundTrip(t, tw); !reflect.DeepEqual(got, tw) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, tw)
	}
}

func TestApplyHappyPath(t *testing.T) {
	tw := New(testKey)
	for i, e := range lifecycle() {
		if !tw.Apply(e) {
			t.Fatalf("event %d (%s) did not change the twin", i, e.Kind)
		}
		if want, _ := progressTarget(e.Kind); tw.Stage != want {
			t.Fatalf("after %s: stage %s, want %s", e.Kind, tw.Stage, want)
		}
	}
	if tw.Stage != StageDelivered || !tw.Stage.Final() {
		t.Errorf("stage = %s", tw.Stage)
	}
	if len(tw.Timeline) != 10 {
		t.Errorf("timeline has %d entries", len(tw.Timeline))
	}
	if !tw.CreatedAt.Equal(at(0)) || !tw.UpdatedAt.Equal(at(1500)) {
		t.Errorf("CreatedAt, UpdatedAt = %v, %v", tw.CreatedAt, tw.UpdatedAt)
	}
	wantSys := map[order.System]SystemStatus{
		order.SystemChannel: {Status: "paid", At: at(1), Source: "channel-src", EventID: "c2", Kind: order.KindPaid},
		order.SystemWMS:     {Status: "outbound", At: at(120), Source: "wms-src", EventID: "w4", Kind: order.KindWMSOutbound},
		order.SystemCourier: {Status: "delivered", At: at(1500), Source: "courier-src", EventID: "k4", Kind: order.KindDelivered},
	}
	if !reflect.DeepEqual(tw.Systems, wantSys) {
		t.Errorf("Systems =\n%+v\nwant\n%+v", tw.Systems, wantSys)
	}
	d := tw.Details
	if d.Amount == nil || *d.Amount != 12990 || d.Currency != "CNY" || d.Shop != "flagship" ||
		d.Warehouse != "HZ-01" || d.Courier != "SF" || d.TrackingNo != "SF123" ||
		d.Receiver == nil || d.Receiver.City != "杭州" || len(d.Items) != 1 ||
		d.ShipBy == nil || !d.ShipBy.Equal(at(48*60)) || d.PromisedBy == nil {
		t.Errorf("Details = %+v", d)
	}
	if got := roundTrip(t, tw); !reflect.DeepEqual(got, tw) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, tw)
	}
}

func TestApplyExamples(t *testing.T) {
	lc := lifecycle()
	byID := func(ids ...string) []order.Event {
		var out []order.Event
		for _, id := range ids {
			i := slices.IndexFunc(lc, func(e order.Event) bool { return e.ID == id })
			out = append(out, lc[i])
		}
		return out
	}
	tests := []struct {
		name   string
		events []order.Event
		want   Stage
		check  func(t *testing.T, tw *Twin)
	}{
		{
			name:   "out of order arrival",
			events: byID("k2", "w1", "c1", "k1", "c2"),
			want:   StageInTransit,
		},
		{
			name:   "lost wms.outbound, courier collected",
			events: byID("c1", "c2", "w1", "w2", "w3", "k1"),
			want:   StageCollected,
			check: func(t *testing.T, tw *Twin) {
				if s := tw.Systems[order.SystemWMS].Status; s != "packed" {
					t.Errorf("wms status %q, want packed", s)
				}
				if s := tw.Systems[order.SystemCourier].Status; s != "collected" {
					t.Errorf("courier status %q, want collected", s)
				}
				if tw.Has(order.KindWMSOutbound) {
					t.Error("Has(wms.outbound)")
				}
			},
		},
		{
			name:   "first event after created starts at CREATED and moves on",
			events: byID("w2"),
			want:   StagePicked,
			check: func(t *testing.T, tw *Twin) {
				if tw.Has(order.KindCreated) {
					t.Error("Has(order.created)")
				}
			},
		},
		{
			name:   "cancel after outbound stays",
			events: append(byID("c1", "c2", "w1", "w4"), ev("x1", order.KindCancelled, 130, order.Data{Reason: "buyer"})),
			want:   StageOutbound,
			check: func(t *testing.T, tw *Twin) {
				if !tw.Has(order.KindCancelled) {
					t.Error("cancel not on the timeline")
				}
				if s := tw.Systems[order.SystemChannel].Status; s != "cancelled" {
					t.Errorf("channel status %q", s)
				}
			},
		},
		{
			name:   "cancel before outbound, late outbound stays cancelled",
			events: append(byID("w4", "c1", "c2"), ev("x1", order.KindCancelled, 5, order.Data{})),
			want:   StageCancelled,
		},
		{
			name: "cancelled then refunded",
			events: append(byID("c1", "c2"),
				ev("x1", order.KindCancelled, 5, order.Data{}),
				ev("r1", order.KindRefundRequested, 6, order.Data{}),
				ev("r2", order.KindRefundCompleted, 30, order.Data{})),
			want: StageRefunded,
		},
		{
			name: "delivery failed then re-attempt delivered",
			events: append(byID("c1", "c2", "w4", "k1", "k2"),
				ev("f1", order.KindDeliveryFailed, 700, order.Data{Reason: "nobody home"}),
				ev("k9", order.KindOutForDelivery, 1300, order.Data{})),
			want: StageOutForDelivery,
		},
		{
			name: "delivery failed, late in_transit keeps failed",
			events: append(byID("c1", "k3", "k2"),
				ev("f1", order.KindDeliveryFailed, 1450, order.Data{})),
			want: StageDeliveryFailed,
		},
		{
			name:   "delivered then returned",
			events: append(slices.Clone(lc), ev("k5", order.KindReturned, 3000, order.Data{})),
			want:   StageReturned,
		},
		{
			name:   "equal timestamps ordered by kind rank",
			events: []order.Event{ev("p", order.KindPaid, 0, order.Data{}), ev("c", order.KindCreated, 0, order.Data{})},
			want:   StagePaid,
			check: func(t *testing.T, tw *Twin) {
				if tw.Timeline[0].Kind != order.KindCreated {
					t.Errorf("timeline starts with %s", tw.Timeline[0].Kind)
				}
			},
		},
		{
			name: "details merge: later warehouse wins",
			events: []order.Event{
				ev("w2", order.KindWMSPicked, 20, order.Data{Warehouse: "SH-02"}),
				ev("w1", order.KindWMSReceived, 10, order.Data{Warehouse: "HZ-01", TrackingNo: "T-1"}),
			},
			want: StagePicked,
			check: func(t *testing.T, tw *Twin) {
				if tw.Details.Warehouse != "SH-02" {
					t.Errorf("warehouse %q, want SH-02", tw.Details.Warehouse)
				}
				if tw.Details.TrackingNo != "T-1" {
					t.Errorf("empty field overwrote: tracking %q", tw.Details.TrackingNo)
				}
			},
		},
		{
			name: "address change updates receiver",
			events: append(byID("c1", "c2", "w1"),
				ev("a1", order.KindAddressChanged, 5, order.Data{Receiver: &order.Receiver{Name: "李四", Phone: "13900005678", Province: "上海", City: "上海", Address: "南京路 2 号"}})),
			want: StageInWarehouse,
			check: func(t *testing.T, tw *Twin) {
				if r := tw.Details.Receiver; r == nil || r.Name != "李四" || r.City != "上海" || r.District != "" {
					t.Errorf("receiver %+v", r)
				}
				if s := tw.Systems[order.SystemChannel].Status; s != "address_changed" {
					t.Errorf("channel status %q", s)
				}
			},
		},
		{
			name: "empty receiver does not erase",
			events: append(byID("c1"),
				ev("a1", order.KindAddressChanged, 5, order.Data{Receiver: &order.Receiver{}})),
			want: StageCreated,
			check: func(t *testing.T, tw *Twin) {
				if r := tw.Details.Receiver; r == nil || r.Name != "张三" {
					t.Errorf("receiver %+v", r)
				}
			},
		},
		{
			name: "event without system filed under default system",
			events: []order.Event{{ID: "n1", Source: "s", Kind: order.KindWMSPacked,
				OccurredAt: at(0), Order: testKey}},
			want: StagePacked,
			check: func(t *testing.T, tw *Twin) {
				if _, ok := tw.Systems[order.SystemWMS]; !ok || tw.Timeline[0].System != order.SystemWMS {
					t.Errorf("systems %+v", tw.Systems)
				}
			},
		},
		{
			name: "events of other orders ignored",
			events: []order.Event{func() order.Event {
				e := ev("o1", order.KindDelivered, 0, order.Data{})
				e.Order.OrderNo = "OTHER"
				return e
			}()},
			want: StageCreated,
			check: func(t *testing.T, tw *Twin) {
				if len(tw.Timeline) != 0 {
					t.Errorf("timeline %+v", tw.Timeline)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := build(tt.events...)
			if tw.Stage != tt.want {
				t.Errorf("stage = %s, want %s", tw.Stage, tt.want)
			}
			if tt.check != nil {
				tt.check(t, tw)
			}
			// Arrival order never matters.
			rev := slices.Clone(tt.events)
			slices.Reverse(rev)
			if tw2 := build(rev...); !reflect.DeepEqual(tw2, tw) {
				t.Errorf("reverse order differs:\n got %+v\nwant %+v", tw2, tw)
			}
			all := New(testKey)
			all.ApplyAll(rev)
			if !reflect.DeepEqual(all, tw) {
				t.Errorf("ApplyAll differs:\n got %+v\nwant %+v", all, tw)
			}
			if got := roundTrip(t, tw); !reflect.DeepEqual(got, tw) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", got, tw)
			}
		})
	}
}

func TestApplyDuplicates(t *testing.T) {
	e := ev("w1", order.KindWMSReceived, 10, order.Data{Warehouse: "HZ-01"})
	tw := build(e)
	if tw.Apply(e) {
		t.Error("exact duplicate changed the twin")
	}
	if tw.ApplyAll([]order.Event{e, e}) {
		t.Error("ApplyAll of duplicates changed the twin")
	}

	// Same (Source, ID), different content: the variant that sorts first
	// wins whatever the arrival order, so the twin converges.
	later := e
	later.OccurredAt = at(20)
	later.Data = order.Data{Warehouse: "SH-02"}
	a := build(e, later)
	b := build(later, e)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("conflicting duplicates diverge:\n%+v\n%+v", a, b)
	}
	if len(a.Timeline) != 1 || !a.Timeline[0].At.Equal(at(10)) || a.Details.Warehouse != "HZ-01" {
		t.Errorf("kept %+v", a.Timeline)
	}
	if !build(later).Apply(e) {
		t.Error("replacing a duplicate with the earlier variant reported no change")
	}

	// Same time and kind, different data: still a deterministic choice.
	other := e
	other.Data = order.Data{Warehouse: "AA-00"}
	other.Recovered = true
	if a, b := build(e, other), build(other, e); !reflect.DeepEqual(a, b) {
		t.Fatalf("same-time duplicates diverge:\n%+v\n%+v", a, b)
	}
	// The same ID from another source is a different event.
	fromERP := e
	fromERP.Source = "erp-src"
	if tw := build(e, fromERP); len(tw.Timeline) != 2 {
		t.Errorf("timeline has %d entries, want 2", len(tw.Timeline))
	}
}

func TestTimesNormalised(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	now := time.Now() // carries a monotonic clock reading
	e := ev("c1", order.KindCreated, 0, order.Data{ShipBy: ptime(now.In(shanghai))})
	e.OccurredAt = now
	tw := build(e)
	e2 := e
	e2.OccurredAt = now.In(shanghai)
	e2.Data.ShipBy = ptime(now.UTC())
	tw2 := build(e2)
	if !reflect.DeepEqual(tw, tw2) {
		t.Errorf("same instants in different zones differ:\n%+v\n%+v", tw, tw2)
	}
	if tw.Timeline[0].At.Location() != time.UTC || tw.Details.ShipBy.Location() != time.UTC {
		t.Error("times not in UTC")
	}
	if got := roundTrip(t, tw); !reflect.DeepEqual(got, tw) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, tw)
	}
	if e2.OccurredAt.Location() != shanghai {
		t.Error("Apply modified the caller's event")
	}
}

func TestNoAliasing(t *testing.T) {
	e := lifecycle()[0]
	tw := build(e)
	// Changing the caller's event after Apply does not reach the twin.
	*e.Data.Amount = 1
	e.Data.Receiver.Name = "X"
	e.Data.Items[0].Qty = 99
	*e.Data.ShipBy = time.Time{}
	if *tw.Details.Amount != 12990 || tw.Details.Receiver.Name != "张三" || tw.Details.Items[0].Qty != 1 ||
		tw.Details.ShipBy.IsZero() || *tw.Timeline[0].Data.Amount != 12990 {
		t.Fatalf("twin aliases the event: %+v", tw.Details)
	}
	// Details do not alias the timeline.
	*tw.Details.Amount = 2
	tw.Details.Receiver.Name = "Y"
	tw.Details.Items[0].SKU = "Z"
	if *tw.Timeline[0].Data.Amount != 12990 || tw.Timeline[0].Data.Receiver.Name != "张三" || tw.Timeline[0].Data.Items[0].SKU != "SKU-1" {
		t.Fatal("details alias the timeline")
	}
}

func TestClone(t *testing.T) {
	tw := build(lifecycle()...)
	c := tw.Clone()
	if !reflect.DeepEqual(c, tw) {
		t.Fatal("clone differs")
	}
	want := roundTrip(t, tw)
	c.Systems[order.SystemERP] = SystemStatus{Status: "x"}
	*c.Details.Amount = 1
	c.Details.Receiver.Name = "X"
	c.Details.Items[0].Qty = 7
	*c.Details.ShipBy = time.Time{}
	*c.Timeline[0].Data.Amount = 1
	c.Timeline[0].Data.Receiver.Phone = "0"
	c.Timeline[0].Data.Items[0].SKU = "X"
	*c.Timeline[0].Data.PromisedBy = time.Time{}
	c.Timeline[1].Kind = order.KindDelivered
	c.Apply(ev("k5", order.KindReturned, 3000, order.Data{}))
	if !reflect.DeepEqual(tw, want) {
		t.Error("changing the clone changed the original")
	}
	if (*Twin)(nil).Clone() != nil {
		t.Error("nil clone")
	}
}

func TestHasFirstAt(t *testing.T) {
	tw := build(
		ev("k2", order.KindInTransit, 600, order.Data{}),
		ev("k2b", order.KindInTransit, 300, order.Data{}),
		ev("c1", order.KindCreated, 0, order.Data{}),
	)
	if !tw.Has(order.KindInTransit) || tw.Has(order.KindDelivered) {
		t.Error("Has")
	}
	if got, ok := tw.FirstAt(order.KindInTransit); !ok || !got.Equal(at(300)) {
		t.Errorf("FirstAt(in_transit) = %v, %v", got, ok)
	}
	if got, ok := tw.FirstAt(order.KindDelivered); ok || !got.IsZero() {
		t.Errorf("FirstAt(delivered) = %v, %v", got, ok)
	}
}

// compareData, cloneData and merge list order.Data's fields by hand. When a
// field is added there, update them (and Details, unless the field
// describes the one event only, as Station and Packer do), then this count.
func TestDataFieldsKnown(t *testing.T) {
	if n := reflect.TypeFor[order.Data]().NumField(); n != 16 {
		t.Fatalf("order.Data has %d fields, twin handles 16: update compareData, cloneData, merge and Details", n)
	}
	if n := reflect.TypeFor[order.Receiver]().NumField(); n != 6 {
		t.Fatalf("order.Receiver has %d fields, compareReceivers handles 6", n)
	}
	if n := reflect.TypeFor[order.Item]().NumField(); n != 3 {
		t.Fatalf("order.Item has %d fields, compareItems handles 3", n)
	}
}

func BenchmarkApply(b *testing.B) {
	es := append(lifecycle(),
		ev("a1", order.KindAddressChanged, 5, order.Data{Receiver: &order.Receiver{Name: "李四", City: "上海"}}),
		ev("k2b", order.KindInTransit, 900, order.Data{}),
		ev("k2c", order.KindInTransit, 1200, order.Data{}),
		ev("r1", order.KindRefundRequested, 1600, order.Data{Reason: "damaged"}),
		ev("r2", order.KindRefundCompleted, 1700, order.Data{Amount: money(12990)}),
	)
	b.ReportAllocs()
	for b.Loop() {
		tw := New(testKey)
		for _, e := range es {
			tw.Apply(e)
		}
	}
}
