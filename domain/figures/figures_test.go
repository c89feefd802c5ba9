package figures

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/rules"
	"github.com/towerhq/tower/domain/twin"
)

// t0 is 09:00 in Shanghai on a Wednesday.
var t0 = time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)

var key = order.Key{Channel: order.ChannelTmall, OrderNo: "T1"}

func at(min int) time.Time       { return t0.Add(time.Duration(min) * time.Minute) }
func ptr(t time.Time) *time.Time { return &t }

// ev is an event of key's order, its id from its kind and minute.
func ev(kind order.Kind, min int, d order.Data) order.Event {
	return order.Event{
		ID: fmt.Sprintf("%s@%d", kind, min), Source: "src", Kind: kind, System: kind.DefaultSystem(),
		OccurredAt: at(min), Order: key, Data: d,
	}
}

func sys(e order.Event, s order.System) order.Event { e.System = s; return e }

// arrivals are the ways a sequence may reach Tower: in order, reversed,
// shuffled with every event twice.
func arrivals(es []order.Event) map[string][]order.Event {
	rev := slices.Clone(es)
	slices.Reverse(rev)
	dup := append(slices.Clone(es), es...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(dup), func(i, j int) { dup[i], dup[j] = dup[j], dup[i] })
	return map[string][]order.Event{"in order": es, "reversed": rev, "shuffled, duplicated": dup}
}

// build folds es one at a time, as the projection does across batches,
// and returns the twin and the sum of the deltas it made.
func build(es []order.Event, s Settings) (*twin.Twin, Counts, Counts) {
	t := twin.New(key)
	flows, open := Counts{}, Counts{}
	var before *twin.Twin
	for _, e := range es {
		if !t.Apply(e) && before != nil {
			continue
		}
		f, o := Delta(before, t, s)
		merge(flows, f)
		merge(open, o)
		before = t.Clone()
	}
	return t, flows, open
}

func merge(dst, src Counts) {
	for k, v := range src {
		if n := dst[k] + v; n != 0 {
			dst[k] = n
		} else {
			delete(dst, k)
		}
	}
}

// rowsOf turns minute counts into the rows of a window [from, to).
func rowsOf(c Counts, from, to time.Time) []Row {
	var out []Row
	for k, n := range c {
		if !k.At.Before(from) && k.At.Before(to) {
			out = append(out, Row{At: k.At, Span: time.Minute, Metric: k.Metric, Label: k.Label, N: n})
		}
	}
	return out
}

func openRows(c Counts) []OpenRow {
	var out []OpenRow
	for k, n := range c {
		out = append(out, OpenRow{Metric: k.Metric, Label: k.Label, Since: k.At, N: n})
	}
	return out
}

var (
	day0 = t0.Add(-9 * time.Hour) // Shanghai midnight of t0's day
	day1 = day0.Add(24 * time.Hour)
	wide = [2]time.Time{t0.Add(-72 * time.Hour), t0.Add(240 * time.Hour)}
)

func TestFacts(t *testing.T) {
	tests := []struct {
		name  string
		es    []order.Event
		check func(t *testing.T, f Facts)
	}{
		{
			name: "the happy path: every moment, the packer, the scope",
			es: []order.Event{
				ev(order.KindCreated, 0, order.Data{Shop: "flagship", ShipBy: ptr(at(600)), PromisedBy: ptr(at(3000))}),
				ev(order.KindPaid, 1, order.Data{}),
				ev(order.KindWMSReceived, 2, order.Data{Warehouse: "HZ-01"}),
				ev(order.KindWMSPacked, 30, order.Data{Station: "S3", Packer: "P7"}),
				ev(order.KindWMSOutbound, 40, order.Data{Courier: "SF", TrackingNo: "SF1"}),
				ev(order.KindCollected, 90, order.Data{}),
				ev(order.KindDelivered, 2000, order.Data{}),
			},
			check: func(t *testing.T, f Facts) {
				want := Scope{Channel: order.ChannelTmall, Shop: "flagship", Warehouse: "HZ-01", Courier: "SF"}
				if f.Scope != want || f.Stage != twin.StageDelivered || f.Void {
					t.Errorf("scope %+v stage %s void %v", f.Scope, f.Stage, f.Void)
				}
				for name, got := range map[string][2]time.Time{
					"created": {f.Created, at(0)}, "paid": {f.Paid, at(1)}, "in wms": {f.InWMS, at(2)},
					"packed": {f.Packed, at(30)}, "outbound": {f.Outbound, at(40)}, "collected": {f.Collected, at(90)},
					"first courier": {f.FirstCourier, at(90)}, "delivered": {f.Delivered, at(2000)},
					"ship by": {f.ShipBy, at(600)}, "promised by": {f.PromisedBy, at(3000)},
				} {
					if !got[0].Equal(got[1]) {
						t.Errorf("%s = %v, want %v", name, got[0], got[1])
					}
				}
				if f.Station != "S3" || f.Packer != "P7" {
					t.Errorf("station %q packer %q", f.Station, f.Packer)
				}
				stages := []twin.Stage{}
				for _, sp := range f.Spans {
					stages = append(stages, sp.Stage)
				}
				if !slices.Equal(stages, []twin.Stage{twin.StagePaid, twin.StageInWarehouse, twin.StagePacked, twin.StageOutbound, twin.StageCollected}) {
					t.Errorf("spans %v", stages)
				}
				if last := f.Spans[len(f.Spans)-1]; !last.To.Equal(at(2000)) {
					t.Errorf("the last open span ends at delivery: %+v", last)
				}
			},
		},
		{
			name: "the outbound report lost: the courier's first scan is when it left",
			es:   []order.Event{ev(order.KindPaid, 0, order.Data{}), ev(order.KindInTransit, 50, order.Data{}), ev(order.KindWMSPicked, 10, order.Data{})},
			check: func(t *testing.T, f Facts) {
				if !f.Outbound.Equal(at(50)) || !f.FirstCourier.Equal(at(50)) || !f.Collected.IsZero() {
					t.Errorf("outbound %v first courier %v collected %v", f.Outbound, f.FirstCourier, f.Collected)
				}
			},
		},
		{
			name: "the ERP reporting a WMS step is not the WMS knowing the order",
			es:   []order.Event{ev(order.KindPaid, 0, order.Data{}), sys(ev(order.KindWMSReceived, 3, order.Data{}), order.SystemERP), ev(order.KindWMSPicked, 20, order.Data{})},
			check: func(t *testing.T, f Facts) {
				if !f.InWMS.Equal(at(20)) {
					t.Errorf("in wms %v, want the WMS's own first report", f.InWMS)
				}
			},
		},
		{
			name: "cancelled before the warehouse: void",
			es:   []order.Event{ev(order.KindPaid, 0, order.Data{}), ev(order.KindCancelled, 5, order.Data{})},
			check: func(t *testing.T, f Facts) {
				if !f.Void || f.Stage != twin.StageCancelled || len(f.Spans) != 1 || !f.Spans[0].To.Equal(at(5)) {
					t.Errorf("void %v stage %s spans %+v", f.Void, f.Stage, f.Spans)
				}
			},
		},
		{
			name: "refunded after it left: not void (it had to ship)",
			es:   []order.Event{ev(order.KindPaid, 0, order.Data{}), ev(order.KindWMSOutbound, 5, order.Data{}), ev(order.KindRefundCompleted, 50, order.Data{})},
			check: func(t *testing.T, f Facts) {
				if f.Void || f.Stage != twin.StageRefunded {
					t.Errorf("void %v stage %s", f.Void, f.Stage)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for how, es := range arrivals(tt.es) {
				t.Run(how, func(t *testing.T) {
					tw, _, _ := build(es, DefaultSettings())
					tt.check(t, Of(tw))
				})
			}
		})
	}
}

// out is what a TestDefinitions case checks.
type out struct {
	s    Summary
	rows []Row
	open []OpenRow
	now  time.Time
}

// TestDefinitions: each figure on hand-built orders, whatever the order of
// arrival and however often each event comes.
func TestDefinitions(t *testing.T) {
	cst := DefaultSettings()
	rate := func(r Rate) string {
		if v, ok := r.Value(); ok {
			return fmt.Sprintf("%d/%d=%.2f", r.Num, r.Den, v)
		}
		return fmt.Sprintf("%d/%d", r.Num, r.Den)
	}
	tests := []struct {
		name  string
		es    []order.Event
		now   time.Time
		check func(t *testing.T, o out)
	}{
		{
			name: "shipped before ship-by: on time; delivered after promised-by: late",
			es: []order.Event{
				ev(order.KindPaid, 0, order.Data{ShipBy: ptr(at(600)), PromisedBy: ptr(at(1000))}),
				ev(order.KindWMSOutbound, 300, order.Data{}), ev(order.KindDelivered, 1500, order.Data{}),
			},
			now: at(2000),
			check: func(t *testing.T, o out) {
				if o.s.OnTimeShip != (Rate{1, 1}) || o.s.OnTimeDelivery != (Rate{0, 1}) {
					t.Errorf("ship %s delivery %s", rate(o.s.OnTimeShip), rate(o.s.OnTimeDelivery))
				}
			},
		},
		{
			name: "out exactly at the deadline is on time",
			es:   []order.Event{ev(order.KindPaid, 0, order.Data{ShipBy: ptr(at(60))}), ev(order.KindWMSOutbound, 60, order.Data{})},
			now:  at(61),
			check: func(t *testing.T, o out) {
				if o.s.OnTimeShip != (Rate{1, 1}) {
					t.Errorf("ship %s", rate(o.s.OnTimeShip))
				}
			},
		},
		{
			name: "still in the warehouse: late once ship-by has passed, not counted before",
			es:   []order.Event{ev(order.KindPaid, 0, order.Data{ShipBy: ptr(at(600))}), ev(order.KindWMSPicked, 20, order.Data{})},
			now:  at(601),
			check: func(t *testing.T, o out) {
				if o.s.OnTimeShip != (Rate{0, 1}) {
					t.Errorf("past due: ship %s", rate(o.s.OnTimeShip))
				}
				if r := Summarize(o.rows, at(599)).OnTimeShip; r != (Rate{}) {
					t.Errorf("before the deadline: ship %s, want nothing measured", rate(r))
				}
			},
		},
		{
			name: "cancelled: owes no shipment",
			es:   []order.Event{ev(order.KindPaid, 0, order.Data{ShipBy: ptr(at(60)), PromisedBy: ptr(at(600))}), ev(order.KindCancelled, 5, order.Data{})},
			now:  at(2000),
			check: func(t *testing.T, o out) {
				if o.s.OnTimeShip != (Rate{}) || o.s.OnTimeDelivery != (Rate{}) || o.s.SameDay != (Rate{}) {
					t.Errorf("ship %s delivery %s same day %s", rate(o.s.OnTimeShip), rate(o.s.OnTimeDelivery), rate(o.s.SameDay))
				}
			},
		},
		{
			name: "paid 09:00 Shanghai, out 23:59 the same day: same-day",
			es:   []order.Event{ev(order.KindPaid, 0, order.Data{}), ev(order.KindWMSOutbound, 14*60+59, order.Data{})},
			now:  at(3000),
			check: func(t *testing.T, o out) {
				if o.s.SameDay != (Rate{1, 1}) {
					t.Errorf("same day %s", rate(o.s.SameDay))
				}
			},
		},
		{
			name: "paid 09:00, out 00:01 the next day: not same-day",
			es:   []order.Event{ev(order.KindPaid, 0, order.Data{}), ev(order.KindWMSOutbound, 15*60+1, order.Data{})},
			now:  at(3000),
			check: func(t *testing.T, o out) {
				if o.s.SameDay != (Rate{0, 1}) {
					t.Errorf("same day %s", rate(o.s.SameDay))
				}
			},
		},
		{
			name: "paid 16:00 Shanghai, the cut-off: not held to same-day",
			es:   []order.Event{ev(order.KindPaid, 7*60, order.Data{}), ev(order.KindWMSOutbound, 7*60+30, order.Data{})},
			now:  at(3000),
			check: func(t *testing.T, o out) {
				if o.s.SameDay != (Rate{}) {
					t.Errorf("same day %s", rate(o.s.SameDay))
				}
			},
		},
		{
			name: "durations: paid to WMS 47 s, to outbound 40 min, collected 50 min later, first courier update with it",
			es: []order.Event{
				ev(order.KindPaid, 0, order.Data{}),
				{ID: "rcv", Source: "wms", Kind: order.KindWMSReceived, System: order.SystemWMS, OccurredAt: at(0).Add(47 * time.Second), Order: key},
				ev(order.KindWMSOutbound, 40, order.Data{}), ev(order.KindCollected, 90, order.Data{}),
			},
			now: at(100),
			check: func(t *testing.T, o out) {
				for name, c := range map[string]struct {
					h      Histogram
					lo, hi time.Duration
				}{
					"paid to wms":           {o.s.PaidToWMS, 45 * time.Second, time.Minute},
					"paid to outbound":      {o.s.PaidToOutbound, 30 * time.Minute, 45 * time.Minute},
					"outbound to collected": {o.s.OutboundToCollected, 45 * time.Minute, time.Hour},
					"paid to first courier": {o.s.PaidToFirstCourier, 90 * time.Minute, 2 * time.Hour},
				} {
					p50, ok := c.h.Quantile(0.5)
					if !ok || c.h.Count() != 1 || p50 < c.lo || p50 > c.hi {
						t.Errorf("%s: p50 %v (count %d), want within [%v, %v]", name, p50, c.h.Count(), c.lo, c.hi)
					}
				}
			},
		},
		{
			name: "packing throughput per station and packer",
			es: []order.Event{
				ev(order.KindPaid, 0, order.Data{}), ev(order.KindWMSPacked, 30, order.Data{Station: "S1", Packer: "P7"}),
				// A second packing report (reweighed) does not count the order twice.
				ev(order.KindWMSPacked, 35, order.Data{Station: "S2", Packer: "P8"}),
			},
			now: at(100),
			check: func(t *testing.T, o out) {
				if o.s.Packed != 1 || !maps.Equal(o.s.Stations, map[string]int64{"S1": 1}) || !maps.Equal(o.s.Packers, map[string]int64{"P7": 1}) {
					t.Errorf("packed %d stations %v packers %v", o.s.Packed, o.s.Stations, o.s.Packers)
				}
			},
		},
		{
			name: "backlog: packed since 09:30, its age; waiting since payment",
			es: []order.Event{
				ev(order.KindPaid, 0, order.Data{}), ev(order.KindWMSReceived, 5, order.Data{}), ev(order.KindWMSPacked, 30, order.Data{}),
			},
			now: at(90),
			check: func(t *testing.T, o out) {
				b := Backlog(o.open, o.now)
				if len(b) != 1 || b[0].Stage != twin.StagePacked || b[0].Count != 1 || !b[0].Oldest.Equal(at(30)) || b[0].AgeP50 != time.Hour {
					t.Errorf("backlog %+v", b)
				}
				if r := WaitingOver(o.open, o.now, time.Hour); r != (Rate{1, 1}) {
					t.Errorf("waiting over an hour: %s", rate(r))
				}
				if r := WaitingOver(o.open, o.now, 2*time.Hour); r != (Rate{0, 1}) {
					t.Errorf("waiting over two hours: %s", rate(r))
				}
			},
		},
		{
			name: "delivered: no backlog left",
			es: []order.Event{
				ev(order.KindPaid, 0, order.Data{}), ev(order.KindWMSOutbound, 5, order.Data{}), ev(order.KindDelivered, 500, order.Data{}),
			},
			now: at(600),
			check: func(t *testing.T, o out) {
				if len(o.open) != 0 {
					t.Errorf("open %+v", o.open)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first *out
			for how, es := range arrivals(tt.es) {
				t.Run(how, func(t *testing.T) {
					tw, flows, open := build(es, cst)
					want, wantOpen := Recompute([]*twin.Twin{tw}, cst)
					if !maps.Equal(flows, want) || !maps.Equal(open, wantOpen) {
						t.Fatalf("the deltas add up to\n%v %v\nnot the twin's contribution\n%v %v", flows, open, want, wantOpen)
					}
					rows := rowsOf(flows, wide[0], wide[1])
					o := out{s: Summarize(rows, tt.now), rows: rows, open: openRows(open), now: tt.now}
					tt.check(t, o)
					if first == nil {
						first = &o
					} else if fmt.Sprint(first.s) != fmt.Sprint(o.s) {
						t.Errorf("another arrival order gives other figures:\n%v\n%v", first.s, o.s)
					}
				})
			}
		})
	}
}

// The same-day boundary is in the configured zone: 23:30 UTC is 07:30 the
// next morning in Shanghai.
func TestSameDayTimeZone(t *testing.T) {
	paid := time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC)
	out := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC) // 23:00 Shanghai
	if e, d := SameDay(paid, out, DefaultSettings()); !e || !d {
		t.Errorf("Shanghai: eligible %v done %v", e, d)
	}
	if e, _ := SameDay(paid, out, Settings{Location: time.UTC, Cutoff: 16 * time.Hour}); e {
		t.Error("UTC: 23:30 is past a 16:00 cut-off")
	}
	if e, d := SameDay(paid, time.Time{}, DefaultSettings()); !e || d {
		t.Errorf("not out yet: eligible %v done %v", e, d)
	}
}

func TestHistogram(t *testing.T) {
	if Bin(0) != 0 || Bin(-time.Second) != 0 || Bin(5*time.Second) != 1 || Bin(100*time.Hour) != len(Bounds) {
		t.Errorf("bins: %d %d %d %d", Bin(0), Bin(-time.Second), Bin(5*time.Second), Bin(100*time.Hour))
	}
	var h Histogram
	if _, ok := h.Quantile(0.5); ok {
		t.Error("empty histogram has a median")
	}
	// 10 durations in [1m, 90s), 10 in [10m, 15m).
	h.Add(Bin(time.Minute), 10)
	h.Add(Bin(10*time.Minute), 10)
	if p, _ := h.Quantile(0.5); p != 90*time.Second {
		t.Errorf("p50 %v, want the top of the first bin", p)
	}
	if p, _ := h.Quantile(0.9); p != 14*time.Minute {
		t.Errorf("p90 %v, want 4/5 into [10m, 15m)", p)
	}
	var long Histogram
	long.Add(Bin(200*time.Hour), 3)
	if p, _ := long.Quantile(0.9); p != 96*time.Hour {
		t.Errorf("overflow bin p90 %v, want its lower bound", p)
	}
}

// TestHourly: inflow, outbound, packing and the backlog at each hour's end,
// read back from hour rows and today's open counts.
func TestHourly(t *testing.T) {
	s := DefaultSettings()
	var twins []*twin.Twin
	mk := func(no string, es ...order.Event) {
		k := order.Key{Channel: order.ChannelTmall, OrderNo: no}
		tw := twin.New(k)
		for _, e := range es {
			e.Order = k
			tw.Apply(e)
		}
		twins = append(twins, tw)
	}
	// Hour 0 (01:00 UTC): A and B paid; A packed in hour 1, out in hour 2.
	mk("A", ev(order.KindPaid, 10, order.Data{}), ev(order.KindWMSPacked, 70, order.Data{}), ev(order.KindWMSOutbound, 130, order.Data{}))
	mk("B", ev(order.KindPaid, 20, order.Data{}))
	// Hour 1: C paid and cancelled in hour 3 (after the series).
	mk("C", ev(order.KindPaid, 80, order.Data{}), ev(order.KindCancelled, 200, order.Data{}))
	flows, open := Recompute(twins, s)
	var rows []Row
	hour := Counts{}
	for k, n := range flows {
		k.At = k.At.Truncate(time.Hour)
		hour[k] += n
	}
	for k, n := range hour {
		rows = append(rows, Row{At: k.At, Span: time.Hour, Metric: k.Metric, Label: k.Label, N: n})
	}
	openNow := map[twin.Stage]int64{}
	for k, n := range open {
		if k.Metric == Open {
			openNow[twin.Stage(k.Label)] += n
		}
	}
	hs := Hourly(rows, openNow, t0, t0.Add(3*time.Hour))
	if len(hs) != 3 {
		t.Fatalf("%d hours", len(hs))
	}
	want := []struct {
		paid, packed, out int64
		backlog           map[twin.Stage]int64
	}{
		{2, 0, 0, map[twin.Stage]int64{twin.StagePaid: 2}},
		{1, 1, 0, map[twin.Stage]int64{twin.StagePaid: 2, twin.StagePacked: 1}},
		{0, 0, 1, map[twin.Stage]int64{twin.StagePaid: 2, twin.StageOutbound: 1}},
	}
	for i, w := range want {
		h := hs[i]
		if h.Paid != w.paid || h.Packed != w.packed || h.Outbound != w.out || !maps.Equal(h.Backlog, w.backlog) {
			t.Errorf("hour %d: paid %d packed %d out %d backlog %v, want %+v", i, h.Paid, h.Packed, h.Outbound, h.Backlog, w)
		}
	}
}

func TestRepeatedLookups(t *testing.T) {
	a, b, c := order.Key{Channel: "tmall", OrderNo: "A"}, order.Key{Channel: "tmall", OrderNo: "B"}, order.Key{Channel: "tmall", OrderNo: "C"}
	ls := []Lookup{
		{a, at(0)}, {a, at(60)}, // asked again an hour later: repeated
		{b, at(0)}, {b, at(60 * 30)}, // asked again 30 h later: a new question
		{c, at(-60 * 20)}, {c, at(30)}, // first asked before the window, again within 24 h: repeated
	}
	if r := RepeatedLookups(ls, at(-10), at(60*40)); r != (Rate{2, 3}) {
		t.Errorf("repeated %+v, want 2 of 3", r)
	}
	if r := RepeatedLookups(nil, at(0), at(10)); r != (Rate{}) {
		t.Errorf("none: %+v", r)
	}
}

func TestHealthIndex(t *testing.T) {
	g := DefaultGoals()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   HealthInputs
		want float64
	}{
		{"everything on target", HealthInputs{
			OnTimeShip: Rate{98, 100}, OnTimeDelivery: Rate{95, 100}, Abnormal: Rate{2, 100}, Divergences: Rate{0, 100}, BacklogAge: Rate{0, 10},
		}, 100},
		{"everything at zero", HealthInputs{
			OnTimeShip: Rate{80, 100}, OnTimeDelivery: Rate{70, 100}, Abnormal: Rate{20, 100}, Divergences: Rate{5, 100}, BacklogAge: Rate{2, 10},
		}, 0},
		// Ship halfway (0.89 → 0.5), the rest on target: 100 − 30 × 0.5.
		{"on-time ship halfway to its target", HealthInputs{
			OnTimeShip: Rate{89, 100}, OnTimeDelivery: Rate{95, 100}, Abnormal: Rate{1, 100}, Divergences: Rate{0, 100}, BacklogAge: Rate{0, 10},
		}, 85},
		// Nothing due to deliver and no backlog: the known three share the
		// index; abnormal 11% is halfway (0.5): 100 × (0.3 + 0.2×0.5 + 0.1)/0.6.
		{"unknown components take no part", HealthInputs{
			OnTimeShip: Rate{100, 100}, Abnormal: Rate{11, 100}, Divergences: Rate{0, 50},
		}, 83.3},
		{"nothing to measure", HealthInputs{}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := Health(tt.in, g)
			if idx.Value != tt.want {
				t.Errorf("index %v, want %v (%+v)", idx.Value, tt.want, idx.Components)
			}
			var wsum, sum float64
			for _, c := range idx.Components {
				wsum += c.Weight
				sum += c.Weight * c.Score
				if !c.Known && c.Weight != 0 {
					t.Errorf("%s unknown with weight %v", c.Name, c.Weight)
				}
			}
			if wsum > 0 && (wsum < 0.999 || wsum > 1.001 || abs(100*sum-idx.Value) > 0.05) {
				t.Errorf("the components' weights add to %v and make %v, not the index %v", wsum, 100*sum, idx.Value)
			}
			if len(idx.Components) != len(Components) {
				t.Errorf("%d components", len(idx.Components))
			}
		})
	}
}

func abs(f float64) float64 { return max(f, -f) }

func TestGoalsValidate(t *testing.T) {
	for name, mutate := range map[string]func(Goals){
		"negative weight":   func(g Goals) { g[OnTimeShipName] = Goal{Weight: -1, Target: 1, Zero: 0} },
		"target equal zero": func(g Goals) { g[AbnormalName] = Goal{Weight: 1, Target: 0.1, Zero: 0.1} },
		"share above 1":     func(g Goals) { g[BacklogAgeName] = Goal{Weight: 1, Target: 0, Zero: 2} },
		"unknown component": func(g Goals) { g["cost"] = Goal{Weight: 1, Target: 1} },
		"missing component": func(g Goals) { delete(g, DivergenceName) },
		"all weights zero": func(g Goals) {
			for k, v := range g {
				v.Weight = 0
				g[k] = v
			}
		},
	} {
		g := DefaultGoals()
		mutate(g)
		if err := g.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestExceptionTags(t *testing.T) {
	tags := ExceptionTags(rules.Defaults())
	for _, want := range []string{"超时未发货", "出库未揽收", "地址模糊", "未下发仓库"} {
		if !slices.Contains(tags, want) {
			t.Errorf("%s is no exception tag: %v", want, tags)
		}
	}
	for _, info := range []string{"偏远地区", "买家留言", "对账补录", "大件数订单"} {
		if slices.Contains(tags, info) {
			t.Errorf("informational %s is an exception tag", info)
		}
	}
	if !Abnormal(false, []string{"偏远地区", "地址模糊"}, tags) || Abnormal(false, []string{"偏远地区"}, tags) || !Abnormal(true, nil, tags) {
		t.Error("Abnormal")
	}
}
