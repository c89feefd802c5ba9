package projection_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
)

// TestApply applies batches one after another and checks, after each, what
// a user of the read model sees: the twins, their versions, the backlog
// counts and the twin_changes message.
func TestApply(t *testing.T) {
	p, _ := newTwins(t)
	a, b := uniqueKey("apply-a"), uniqueKey("apply-b")
	type want struct {
		stage    twin.Stage
		version  int
		timeline int
	}
	steps := []struct {
		name    string
		batch   []order.Event
		changed int
		orders  map[order.Key]want
		// Change of stage_counts, and the twins the one message carries
		// (no message when changed is 0).
		delta map[twin.Stage]int64
		msg   []order.Key
	}{
		{
			name:    "created and paid: a new twin at PAID",
			batch:   []order.Event{event(a, "a1", order.KindCreated, 0), event(a, "a2", order.KindPaid, 5)},
			changed: 1,
			orders:  map[order.Key]want{a: {twin.StagePaid, 1, 2}},
			delta:   map[twin.Stage]int64{twin.StagePaid: 1},
			msg:     []order.Key{a},
		},
		{
			name:    "the same batch again changes nothing",
			batch:   []order.Event{event(a, "a1", order.KindCreated, 0), event(a, "a2", order.KindPaid, 5)},
			changed: 0,
			orders:  map[order.Key]want{a: {twin.StagePaid, 1, 2}},
		},
		{
			name:    "one of its events, redelivered alone, changes nothing",
			batch:   []order.Event{event(a, "a2", order.KindPaid, 5)},
			changed: 0,
			orders:  map[order.Key]want{a: {twin.StagePaid, 1, 2}},
		},
		{
			name:    "warehouse events move it on",
			batch:   []order.Event{event(a, "a4", order.KindWMSPicked, 20), event(a, "a3", order.KindWMSReceived, 10)},
			changed: 1,
			orders:  map[order.Key]want{a: {twin.StagePicked, 2, 4}},
			delta:   map[twin.Stage]int64{twin.StagePaid: -1, twin.StagePicked: 1},
			msg:     []order.Key{a},
		},
		{
			name:    "a late event is recorded without moving the stage back",
			batch:   []order.Event{event(a, "a5", order.KindPaid, 6)},
			changed: 1,
			orders:  map[order.Key]want{a: {twin.StagePicked, 3, 5}},
			msg:     []order.Key{a},
		},
		{
			name:    "two orders in a batch, only one changed",
			batch:   []order.Event{event(b, "b1", order.KindCreated, 1), event(a, "a1", order.KindCreated, 0)},
			changed: 1,
			orders:  map[order.Key]want{a: {twin.StagePicked, 3, 5}, b: {twin.StageCreated, 1, 1}},
			delta:   map[twin.Stage]int64{twin.StageCreated: 1},
			msg:     []order.Key{b},
		},
		{
			name: "both change",
			batch: []order.Event{
				event(b, "b2", order.KindCancelled, 2), event(a, "a6", order.KindWMSPacked, 30), event(a, "a7", order.KindWMSOutbound, 40),
			},
			changed: 2,
			orders:  map[order.Key]want{a: {twin.StageOutbound, 4, 7}, b: {twin.StageCancelled, 2, 2}},
			delta:   map[twin.Stage]int64{twin.StageCreated: -1, twin.StageCancelled: 1, twin.StagePicked: -1, twin.StageOutbound: 1},
			msg:     []order.Key{a, b},
		},
		{
			name:   "an empty batch",
			orders: map[order.Key]want{a: {twin.StageOutbound, 4, 7}, b: {twin.StageCancelled, 2, 2}},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			countsBefore := stageCounts(t)
			offset := lastOffset(t)

			changed, err := p.Apply(ctxT(t), st.batch)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if changed != st.changed {
				t.Errorf("Apply = %d twins changed, want %d", changed, st.changed)
			}

			rows := map[order.Key]orderRow{}
			for k, w := range st.orders {
				r := mustLoadOrder(t, k)
				rows[k] = r
				tw := decodeTwin(t, r.Twin)
				if r.Stage != string(w.stage) || tw.Stage != w.stage {
					t.Errorf("%s: stage column %s, twin stage %s, want %s", k, r.Stage, tw.Stage, w.stage)
				}
				if r.Version != w.version {
					t.Errorf("%s: version %d, want %d", k, r.Version, w.version)
				}
				if len(tw.Timeline) != w.timeline {
					t.Errorf("%s: %d timeline entries, want %d", k, len(tw.Timeline), w.timeline)
				}
				if tw.Key != k {
					t.Errorf("stored twin key %v, want %v", tw.Key, k)
				}
				if !r.ProjectedAt.Equal(projectedAt) {
					t.Errorf("%s: projected_at %v, want the projection clock's %v", k, r.ProjectedAt, projectedAt)
				}
			}

			countsAfter := stageCounts(t)
			gotDelta := map[twin.Stage]int64{}
			for _, s := range twin.Stages {
				if d := countsAfter[s] - countsBefore[s]; d != 0 {
					gotDelta[s] = d
				}
			}
			if !maps.Equal(gotDelta, st.delta) {
				t.Errorf("stage_counts changed by %v, want %v", gotDelta, st.delta)
			}
			checkStageCounts(t)

			msgs := twinChangesSince(t, offset)
			if st.changed == 0 {
				if len(msgs) != 0 {
					t.Errorf("published %d twin changes, want none", len(msgs))
				}
				return
			}
			if len(msgs) != 1 {
				t.Fatalf("published %d twin changes, want 1", len(msgs))
			}
			m := msgs[0]
			var gotKeys []order.Key
			for _, s := range m.Twins {
				gotKeys = append(gotKeys, s.Twin.Key)
				r := rows[s.Twin.Key]
				if s.ID != r.ID {
					t.Errorf("snapshot of %s has id %d, want the row id %d", s.Twin.Key, s.ID, r.ID)
				}
				if got, want := canonical(t, s.Twin), canonical(t, decodeTwin(t, r.Twin)); got != want {
					t.Errorf("snapshot of %s differs from the stored twin:\n got %s\nwant %s", s.Twin.Key, got, want)
				}
				if len(s.Tags) != 0 {
					t.Errorf("snapshot of %s has tags %v, want none", s.Twin.Key, s.Tags)
				}
			}
			if !slices.Equal(gotKeys, st.msg) {
				t.Errorf("message carries twins %v, want %v", gotKeys, st.msg)
			}
			backlog := map[twin.Stage]int64{}
			for s, n := range m.Backlog.Counts {
				if n != 0 {
					backlog[s] = n
				}
			}
			if !maps.Equal(backlog, countsAfter) {
				t.Errorf("message backlog %v, want the counts after the change %v", backlog, countsAfter)
			}
			if !m.Backlog.At.Equal(projectedAt) {
				t.Errorf("backlog at %v, want %v", m.Backlog.At, projectedAt)
			}
		})
	}
}

// gen draws events for the convergence test.
type gen struct{ r *rand.Rand }

var zones = []*time.Location{time.UTC, time.FixedZone("CST", 8*3600), time.FixedZone("EST", -5*3600)}

func (g gen) pick(vals ...string) string { return vals[g.r.IntN(len(vals))] }

func (g gen) time() time.Time {
	tm := t0.Add(time.Duration(g.r.IntN(240)) * time.Minute)
	tm = tm.Add([]time.Duration{0, 0, 0, 1, 500 * time.Millisecond}[g.r.IntN(5)])
	return tm.In(zones[g.r.IntN(len(zones))])
}

func (g gen) data() order.Data {
	var d order.Data
	if g.r.IntN(2) == 0 {
		m := order.Money(g.r.Int64N(50000))
		d.Amount = &m
	}
	d.Currency = g.pick("", "CNY")
	d.BuyerID = g.pick("", "b1", "b2")
	d.Shop = g.pick("", "flagship", "outlet")
	switch g.r.IntN(4) {
	case 0:
		d.Receiver = &order.Receiver{Name: g.pick("", "张三", "李四"), City: g.pick("", "杭州", "上海")}
	case 1:
		d.Receiver = &order.Receiver{}
	}
	switch g.r.IntN(3) {
	case 0:
		d.Items = []order.Item{{SKU: g.pick("A", "B"), Qty: 1 + g.r.IntN(3), Price: 990}}
	case 1:
		d.Items = []order.Item{}
	}
	d.Warehouse = g.pick("", "HZ-01", "SH-02")
	d.Courier = g.pick("", "SF", "YTO")
	d.TrackingNo = g.pick("", "T1", "T2")
	if g.r.IntN(3) == 0 {
		sb := g.time()
		d.ShipBy = &sb
	}
	d.Reason = g.pick("", "r")
	return d
}

// orderEvents is 1..15 events of one order (key set later), with few
// sources and ids so that (Source, ID) collisions, i.e. variants of one
// event differing in content, are common.
func (g gen) orderEvents() []order.Event {
	n := 1 + g.r.IntN(15)
	es := make([]order.Event, n)
	for i := range es {
		k := order.Kinds[g.r.IntN(len(order.Kinds))]
		es[i] = order.Event{
			ID: fmt.Sprint("e", g.r.IntN(10)), Source: g.pick("tmall", "erp", "wms", "sf"),
			Kind: k, System: k.DefaultSystem(), OccurredAt: g.time(), Data: g.data(),
			Recovered: g.r.IntN(4) == 0,
		}
	}
	return es
}

// arrival is one way the events of several orders might reach the
// projection: shuffled, some repeated, cut into batches mixing orders.
func (g gen) arrival(all []order.Event) [][]order.Event {
	seq := slices.Clone(all)
	for range g.r.IntN(len(all) + 1) {
		seq = append(seq, all[g.r.IntN(len(all))])
	}
	g.r.Shuffle(len(seq), func(i, j int) { seq[i], seq[j] = seq[j], seq[i] })
	var batches [][]order.Event
	for len(seq) > 0 {
		n := min(len(seq), 1+g.r.IntN(8))
		batches = append(batches, seq[:n])
		seq = seq[n:]
	}
	// A batch redelivered later.
	if len(batches) > 1 {
		batches = append(batches, batches[g.r.IntN(len(batches))])
	}
	return batches
}

func withKey(es []order.Event, k order.Key) []order.Event {
	out := slices.Clone(es)
	for i := range out {
		out[i].Order = k
	}
	return out
}

// TestConvergence is a property test: the events of a few random orders,
// delivered in two different random arrivals (two key spaces of the same
// database), give identical twins, equal to folding the events in memory;
// stage_counts matches the orders after every batch; and a full redelivery
// at the end changes nothing.
func TestConvergence(t *testing.T) {
	p, _ := newTwins(t)
	for seed := range uint64(30) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			g := gen{rand.New(rand.NewPCG(seed, 0x70776572))}
			orders := make([][]order.Event, 1+g.r.IntN(4))
			for i := range orders {
				orders[i] = g.orderEvents()
			}
			const runs = 2
			keysOf := make([][]order.Key, runs)
			for run := range runs {
				var all []order.Event
				for i, es := range orders {
					k := uniqueKey(fmt.Sprintf("conv-%d-%d", seed, i))
					keysOf[run] = append(keysOf[run], k)
					all = append(all, withKey(es, k)...)
				}
				for _, batch := range g.arrival(all) {
					if _, err := p.Apply(ctxT(t), batch); err != nil {
						t.Fatalf("run %d: Apply: %v", run, err)
					}
					checkStageCounts(t)
				}

				// Everything again, as one batch: nothing changes.
				before := map[order.Key]int{}
				for _, k := range keysOf[run] {
					before[k] = mustLoadOrder(t, k).Version
				}
				offset := lastOffset(t)
				changed, err := p.Apply(ctxT(t), all)
				if err != nil {
					t.Fatal(err)
				}
				if changed != 0 {
					t.Errorf("run %d: redelivering every event changed %d twins", run, changed)
				}
				for _, k := range keysOf[run] {
					if v := mustLoadOrder(t, k).Version; v != before[k] {
						t.Errorf("run %d: %s version %d after a full redelivery, was %d", run, k, v, before[k])
					}
				}
				if n := len(twinChangesSince(t, offset)); n != 0 {
					t.Errorf("run %d: a full redelivery published %d twin changes", run, n)
				}
			}

			for i, es := range orders {
				ref := twin.New(keysOf[0][i])
				ref.ApplyAll(withKey(es, keysOf[0][i]))
				want := canonical(t, ref)
				for run := range runs {
					r := mustLoadOrder(t, keysOf[run][i])
					tw := decodeTwin(t, r.Twin)
					if got := canonical(t, tw); got != want {
						t.Errorf("order %d, run %d: stored twin differs from the in-memory fold:\n got %s\nwant %s", i, run, got, want)
					}
					if r.Stage != string(ref.Stage) {
						t.Errorf("order %d, run %d: stage column %s, want %s", i, run, r.Stage, ref.Stage)
					}
				}
			}
		})
	}
}
