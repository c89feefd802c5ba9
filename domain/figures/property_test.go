package figures

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
)

// genEvents draws a few events of key's order: any kind, times within a
// day (equal times common), the data the counts read.
func genEvents(t *rapid.T) []order.Event {
	n := rapid.IntRange(1, 12).Draw(t, "n")
	es := make([]order.Event, n)
	for i := range es {
		k := rapid.SampledFrom(order.Kinds).Draw(t, "kind")
		e := order.Event{
			ID:         fmt.Sprintf("e%d", rapid.IntRange(0, 8).Draw(t, "id")),
			Source:     rapid.SampledFrom([]string{"shop", "wms", "sf"}).Draw(t, "source"),
			Kind:       k,
			System:     rapid.SampledFrom([]order.System{k.DefaultSystem(), k.DefaultSystem(), order.SystemERP}).Draw(t, "system"),
			OccurredAt: at(rapid.IntRange(0, 24*60).Draw(t, "min")),
			Order:      key,
		}
		e.Data.Shop = rapid.SampledFrom([]string{"", "flagship"}).Draw(t, "shop")
		e.Data.Warehouse = rapid.SampledFrom([]string{"", "HZ-01", "SH-02"}).Draw(t, "warehouse")
		e.Data.Courier = rapid.SampledFrom([]string{"", "SF"}).Draw(t, "courier")
		e.Data.Station = rapid.SampledFrom([]string{"", "S1"}).Draw(t, "station")
		e.Data.Packer = rapid.SampledFrom([]string{"", "P1", "P2"}).Draw(t, "packer")
		if rapid.Bool().Draw(t, "shipBy") {
			e.Data.ShipBy = ptr(at(rapid.IntRange(0, 48*60).Draw(t, "shipByMin")))
		}
		if rapid.Bool().Draw(t, "promisedBy") {
			e.Data.PromisedBy = ptr(at(rapid.IntRange(0, 96*60).Draw(t, "promisedByMin")))
		}
		es[i] = e
	}
	return es
}

// TestDeltasConverge: however the events arrive (shuffled, repeated), the
// deltas of the twin's changes add up to the final twin's contribution,
// and every arrival gives the same.
func TestDeltasConverge(t *testing.T) {
	s := Settings{Location: Shanghai, Cutoff: 16*time.Hour + 30*time.Minute}
	rapid.Check(t, func(t *rapid.T) {
		es := genEvents(t)
		var want, wantOpen Counts
		for range 5 {
			arrival := rapid.Permutation(append(es, es[:rapid.IntRange(0, len(es)).Draw(t, "dups")]...)).Draw(t, "arrival")
			tw, flows, open := build(arrival, s)
			rf, ro := Recompute([]*twin.Twin{tw}, s)
			if !maps.Equal(flows, rf) || !maps.Equal(open, ro) {
				t.Fatalf("deltas\n%v\n%v\n!= recomputed\n%v\n%v", flows, open, rf, ro)
			}
			if want == nil {
				want, wantOpen = rf, ro
			} else if !maps.Equal(want, rf) || !maps.Equal(wantOpen, ro) {
				t.Fatalf("another arrival, other counts:\n%v\n%v", want, rf)
			}
		}
	})
}
