package twin

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/towerhq/tower/domain/order"
)

// permutationsPerCheck is how many shuffled, duplicated arrivals each
// generated event set is replayed in. With rapid's default 100 checks that is
// 3000 arrival orders per run (600 with -short).
const permutationsPerCheck = 30

var zones = []*time.Location{time.UTC, time.FixedZone("CST", 8*3600), time.FixedZone("EST", -5*3600)}

// genTime is within four hours of t0, on whole minutes most of the time so
// that equal timestamps are common, in a random zone.
func genTime(t *rapid.T, label string) time.Time {
	tm := t0.Add(time.Duration(rapid.IntRange(0, 240).Draw(t, label+".min")) * time.Minute)
	tm = tm.Add(rapid.SampledFrom([]time.Duration{0, 0, 0, 1, 500 * time.Millisecond}).Draw(t, label+".frac"))
	return tm.In(rapid.SampledFrom(zones).Draw(t, label+".zone"))
}

func genData(t *rapid.T, label string) order.Data {
	var d order.Data
	str := func(name string, vals ...string) string {
		return rapid.SampledFrom(append([]string{""}, vals...)).Draw(t, label+"."+name)
	}
	if rapid.Bool().Draw(t, label+".hasAmount") {
		m := order.Money(rapid.Int64Range(0, 50000).Draw(t, label+".amount"))
		d.Amount = &m
	}
	d.Currency = str("currency", "CNY")
	d.BuyerID = str("buyerId", "b1", "b2")
	d.Shop = str("shop", "flagship", "outlet")
	if rapid.Bool().Draw(t, label+".hasReceiver") {
		d.Receiver = &order.Receiver{
			Name: str("name", "张三", "李四"),
			City: str("city", "杭州", "上海"),
		}
	}
	if n := rapid.IntRange(0, 2).Draw(t, label+".items"); n > 0 {
		d.Items = make([]order.Item, n)
		for i := range d.Items {
			d.Items[i] = order.Item{
				SKU: rapid.SampledFrom([]string{"A", "B"}).Draw(t, label+".sku"),
				Qty: rapid.IntRange(1, 3).Draw(t, label+".qty"), Price: 990,
			}
		}
	} else if rapid.Bool().Draw(t, label+".emptyItems") {
		d.Items = []order.Item{} // the same as none
	}
	d.Warehouse = str("warehouse", "HZ-01", "SH-02")
	d.Courier = str("courier", "SF", "YTO")
	d.TrackingNo = str("trackingNo", "T1", "T2")
	if rapid.Bool().Draw(t, label+".hasShipBy") {
		sb := genTime(t, label+".shipBy")
		d.ShipBy = &sb
	}
	d.Reason = str("reason", "r")
	d.Station = str("station", "S1")
	d.Packer = str("packer", "P1", "P2")
	return d
}

func genEvent(t *rapid.T, label string) order.Event {
	k := rapid.SampledFrom(order.Kinds).Draw(t, label+".kind")
	sys := rapid.SampledFrom([]order.System{k.DefaultSystem(), k.DefaultSystem(), order.SystemERP, "",
		order.SystemChannel, order.SystemWMS, order.SystemCourier}).Draw(t, label+".system")
	return order.Event{
		// Few sources and ids, so that (Source, ID) collisions are common.
		ID:         fmt.Sprintf("e%d", rapid.IntRange(0, 12).Draw(t, label+".id")),
		Source:     rapid.SampledFrom([]string{"tmall", "erp", "wms", "sf"}).Draw(t, label+".source"),
		Kind:       k,
		System:     sys,
		OccurredAt: genTime(t, label+".at"),
		Order:      testKey,
		Data:       genData(t, label+".data"),
		Recovered:  rapid.Bool().Draw(t, label+".recovered"),
	}
}

// genEventSet is 1..25 events of one order, including variants: events that
// share (Source, ID) with another but differ in content.
func genEventSet(t *rapid.T) []order.Event {
	n := rapid.IntRange(1, 25).Draw(t, "n")
	es := make([]order.Event, 0, n+5)
	for i := range n {
		es = append(es, genEvent(t, fmt.Sprintf("ev%d", i)))
	}
	for i := range rapid.IntRange(0, 5).Draw(t, "variants") {
		label := fmt.Sprintf("variant%d", i)
		v := es[rapid.IntRange(0, len(es)-1).Draw(t, label+".of")]
		switch rapid.IntRange(0, 3).Draw(t, label+".change") {
		case 0:
			v.OccurredAt = genTime(t, label+".at")
		case 1:
			v.Kind = rapid.SampledFrom(order.Kinds).Draw(t, label+".kind")
		case 2:
			v.Data = genData(t, label+".data")
		case 3:
			v.Recovered = !v.Recovered
		}
		es = append(es, v)
	}
	return es
}

// checkInvariants asserts what every twin satisfies whatever was applied.
func checkInvariants(t *rapid.T, tw *Twin, applied []order.Event) {
	if !tw.Stage.Valid() {
		t.Fatalf("invalid stage %q", tw.Stage)
	}
	ids := map[[2]string]bool{}
	for i := range tw.Timeline {
		e := &tw.Timeline[i]
		id := [2]string{e.Source, e.EventID}
		if ids[id] {
			t.Fatalf("duplicate (Source, EventID) %v on timeline", id)
		}
		ids[id] = true
		if i > 0 && compareKeys(&tw.Timeline[i-1], e) >= 0 {
			t.Fatalf("timeline not strictly sorted at %d", i)
		}
		if e.At.Location() != time.UTC {
			t.Fatalf("entry %d not in UTC", i)
		}
	}
	for _, e := range applied {
		if !ids[[2]string{e.Source, e.ID}] {
			t.Fatalf("event %s/%s missing from timeline", e.Source, e.ID)
		}
	}
	if len(tw.Timeline) > 0 {
		if tw.CreatedAt.After(tw.UpdatedAt) {
			t.Fatalf("CreatedAt %v after UpdatedAt %v", tw.CreatedAt, tw.UpdatedAt)
		}
		last := tw.Timeline[len(tw.Timeline)-1]
		if st := tw.Systems[last.System]; st.EventID != last.EventID || st.Source != last.Source {
			t.Fatalf("Systems[%s] = %+v, want the last entry %+v", last.System, st, last)
		}
	}
	stage := StageCreated
	for _, e := range tw.Timeline {
		stage = Transition(stage, e.Kind)
	}
	if stage != tw.Stage {
		t.Fatalf("stage %s, fold of timeline gives %s", tw.Stage, stage)
	}
}

func TestPropertyConvergence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		events := genEventSet(t)

		// (a) In generated order, one at a time.
		want := New(testKey)
		for _, e := range events {
			want.Apply(e)
			if !want.Stage.Valid() {
				t.Fatalf("invalid stage %q after %s", want.Stage, e.Kind)
			}
		}
		checkInvariants(t, want, events)
		if rt := roundTrip(t, want); !reflect.DeepEqual(rt, want) {
			t.Fatalf("JSON round trip differs:\n got %+v\nwant %+v", rt, want)
		}
		if c := want.Clone(); !reflect.DeepEqual(c, want) {
			t.Fatal("clone differs")
		}

		// (b) Shuffled, with duplicates, in many arrival orders.
		for round := range permutationsPerCheck {
			label := fmt.Sprintf("round%d", round)
			seq := rapid.Permutation(events).Draw(t, label+".perm")
			for range rapid.IntRange(0, 8).Draw(t, label+".dups") {
				dup := events[rapid.IntRange(0, len(events)-1).Draw(t, label+".dup")]
				pos := rapid.IntRange(0, len(seq)).Draw(t, label+".pos")
				seq = slices.Insert(seq, pos, dup)
			}
			got := New(testKey)
			if rapid.Bool().Draw(t, label+".batch") {
				got.ApplyAll(seq)
			} else {
				for _, e := range seq {
					got.Apply(e)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("arrival order changed the twin:\n got %+v\nwant %+v", got, want)
			}
			if rt := roundTrip(t, got); !reflect.DeepEqual(rt, want) {
				t.Fatalf("JSON round trip differs:\n got %+v\nwant %+v", rt, want)
			}
		}

		// Idempotent: nothing already applied changes the twin again,
		// whether on the twin itself or on its JSON round trip.
		rt := roundTrip(t, want)
		for _, e := range events {
			if want.Apply(e) {
				t.Fatalf("re-applying %s/%s changed the twin", e.Source, e.ID)
			}
			if rt.Apply(e) {
				t.Fatalf("re-applying %s/%s to the stored twin changed it", e.Source, e.ID)
			}
		}
		if want.ApplyAll(events) {
			t.Fatal("re-applying all changed the twin")
		}
	})
}

// Incremental application from a stored (JSON round-tripped) twin matches
// applying everything at once: the store can load, apply and save.
func TestPropertyIncrementalFromStore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		events := genEventSet(t)
		want := New(testKey)
		want.ApplyAll(events)

		split := rapid.IntRange(0, len(events)).Draw(t, "split")
		tw := New(testKey)
		tw.ApplyAll(events[:split])
		tw = roundTrip(t, tw)
		for _, e := range events[split:] {
			tw = roundTrip(t, tw)
			tw.Apply(e)
		}
		checkInvariants(t, tw, events)
		if !reflect.DeepEqual(tw, want) {
			t.Fatalf("incremental differs:\n got %+v\nwant %+v", tw, want)
		}
	})
}
