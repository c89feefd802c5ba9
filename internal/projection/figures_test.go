package projection_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"pgregory.net/rapid"

	dfigures "github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/internal/figures"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/projection"
)

// figureSettings: a cut-off off the hour, so the minute matters.
var figureSettings = dfigures.Settings{Location: dfigures.Shanghai, Cutoff: 15*time.Hour + 30*time.Minute}

func newFigureTwins(tb testing.TB) (*projection.Twins, *figures.Rollups) {
	tb.Helper()
	r := figures.New(figureSettings)
	return projection.NewTwins(migrated(tb), newBus(tb), metrics.New(), quiet, func() time.Time { return projectedAt },
		projection.Options{Figures: r}), r
}

var figureChannels = 0

// genOrderEvents draws the events of order k: any kind, within a day and
// a half (equal minutes common), with the data the figures read.
func genOrderEvents(t *rapid.T, k order.Key, label string) []order.Event {
	n := rapid.IntRange(1, 10).Draw(t, label+".n")
	es := make([]order.Event, n)
	for i := range es {
		kind := rapid.SampledFrom(order.Kinds).Draw(t, label+".kind")
		e := order.Event{
			ID:         fmt.Sprintf("e%d", rapid.IntRange(0, 7).Draw(t, label+".id")),
			Source:     rapid.SampledFrom([]string{"shop", "wms", "sf"}).Draw(t, label+".source"),
			Kind:       kind,
			System:     rapid.SampledFrom([]order.System{kind.DefaultSystem(), kind.DefaultSystem(), order.SystemERP}).Draw(t, label+".system"),
			OccurredAt: t0.Add(time.Duration(rapid.IntRange(0, 36*60).Draw(t, label+".min")) * time.Minute),
			Order:      k,
		}
		d := &e.Data
		d.Shop = rapid.SampledFrom([]string{"", "flagship", "outlet"}).Draw(t, label+".shop")
		d.Warehouse = rapid.SampledFrom([]string{"", "HZ-01", "SH-02"}).Draw(t, label+".warehouse")
		d.Courier = rapid.SampledFrom([]string{"", "SF", "YTO"}).Draw(t, label+".courier")
		d.Station = rapid.SampledFrom([]string{"", "S1"}).Draw(t, label+".station")
		d.Packer = rapid.SampledFrom([]string{"", "P1", "P2"}).Draw(t, label+".packer")
		if rapid.Bool().Draw(t, label+".hasShipBy") {
			sb := t0.Add(time.Duration(rapid.IntRange(0, 48*60).Draw(t, label+".shipBy")) * time.Minute)
			d.ShipBy = &sb
		}
		if rapid.Bool().Draw(t, label+".hasPromisedBy") {
			pb := t0.Add(time.Duration(rapid.IntRange(0, 96*60).Draw(t, label+".promisedBy")) * time.Minute)
			d.PromisedBy = &pb
		}
		if rapid.Bool().Draw(t, label+".hasReceiver") {
			d.Receiver = &order.Receiver{Phone: rapid.SampledFrom([]string{"13800001234", "139****5678"}).Draw(t, label+".phone")}
		}
		es[i] = e
	}
	return es
}

// TestRollupsConverge is the rollups' property: after any replay of a few
// orders' events (shuffled, duplicated, cut into random batches, each its
// own projection transaction), the stored rollups equal a from-scratch
// recomputation from the final twins, at both resolutions, and so do the
// open gauges. Then a Rebuild of every rollup from the twins changes
// nothing.
func TestRollupsConverge(t *testing.T) {
	p, r := newFigureTwins(t)
	ctx := ctxT(t)
	var channels []string
	rapid.Check(t, func(rt *rapid.T) {
		figureChannels++
		ch := fmt.Sprintf("fig-%d-%d", time.Now().UnixNano()%1_000_000, figureChannels)
		channels = append(channels, ch)
		var all []order.Event
		for i := range rapid.IntRange(1, 4).Draw(rt, "orders") {
			k := order.Key{Channel: ch, OrderNo: fmt.Sprintf("O%d", i)}
			all = append(all, genOrderEvents(rt, k, k.OrderNo)...)
		}
		dups := rapid.SliceOfN(rapid.SampledFrom(all), 0, len(all)).Draw(rt, "dups")
		arrival := rapid.Permutation(append(all, dups...)).Draw(rt, "arrival")
		for len(arrival) > 0 {
			n := rapid.IntRange(1, len(arrival)).Draw(rt, "batch")
			if _, err := p.Apply(ctx, arrival[:n]); err != nil {
				rt.Fatal(err)
			}
			arrival = arrival[n:]
		}
		checkRollups(ctx, rt, r, ch)
	})
	if _, err := r.Rebuild(ctx, testDB, projectedAt); err != nil {
		t.Fatal(err)
	}
	for _, ch := range channels {
		checkRollups(ctx, t, r, ch)
	}
}

// fataler is what checkRollups needs of a *testing.T or *rapid.T.
type fataler interface {
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// checkRollups compares what is stored for channel ch with the
// contribution of its stored twins.
func checkRollups(ctx context.Context, tb fataler, r *figures.Rollups, ch string) {
	rows, err := testDB.QueryContext(ctx, `SELECT channel, order_no, twin FROM orders WHERE channel = ?`, ch)
	if err != nil {
		tb.Fatal(err)
	}
	var twins []*twin.Twin
	for rows.Next() {
		var k order.Key
		var doc []byte
		if err := rows.Scan(&k.Channel, &k.OrderNo, &doc); err != nil {
			tb.Fatal(err)
		}
		tw := twin.New(k)
		if err := json.Unmarshal(doc, tw); err != nil {
			tb.Fatal(err)
		}
		twins = append(twins, tw)
	}
	rows.Close()
	wantFlows, wantOpen := dfigures.Recompute(twins, r.Settings())
	wantHours := dfigures.Counts{}
	for c, n := range wantFlows {
		c.At = c.At.Truncate(time.Hour)
		if wantHours[c] += n; wantHours[c] == 0 {
			delete(wantHours, c)
		}
	}
	read := func(q string, args ...any) dfigures.Counts {
		rows, err := testDB.QueryContext(ctx, q, args...)
		if err != nil {
			tb.Fatal(err)
		}
		defer rows.Close()
		out := dfigures.Counts{}
		for rows.Next() {
			var c dfigures.Cell
			var n int64
			if err := rows.Scan(&c.At, &c.Scope.Channel, &c.Scope.Shop, &c.Scope.Warehouse, &c.Scope.Courier, &c.Metric, &c.Label, &n); err != nil {
				tb.Fatal(err)
			}
			c.At = c.At.UTC()
			if n != 0 {
				out[c] = n
			}
		}
		return out
	}
	const cols = `channel, shop, warehouse, courier, metric, label, n`
	if got := read(`SELECT at, `+cols+` FROM figure_rollups WHERE res = 1 AND channel = ? AND courier <> '*'`, ch); !maps.Equal(got, wantFlows) {
		tb.Fatalf("%s minute rollups\n%v\nwant\n%v", ch, got, wantFlows)
	}
	if got := read(`SELECT at, `+cols+` FROM figure_rollups WHERE res = 60 AND channel = ? AND courier <> '*'`, ch); !maps.Equal(got, wantHours) {
		tb.Fatalf("%s hour rollups\n%v\nwant\n%v", ch, got, wantHours)
	}
	// The channel's pre-summed rows (the other sums mix in other tests'
	// channels) by the minute, the hour and the business day.
	for _, res := range []int{1, 60, 1440} {
		want := dfigures.Counts{}
		for c, n := range wantFlows {
			switch res {
			case 1:
			case 60:
				c.At = c.At.Truncate(time.Hour)
			default:
				lt := c.At.In(r.Settings().Location)
				c.At = time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, lt.Location()).UTC()
			}
			c.Scope = dfigures.Scope{Channel: c.Scope.Channel, Shop: dfigures.Summed, Warehouse: dfigures.Summed, Courier: dfigures.Summed}
			if want[c] += n; want[c] == 0 {
				delete(want, c)
			}
		}
		if got := read(`SELECT at, `+cols+` FROM figure_rollups WHERE res = ? AND channel = ? AND shop = '*' AND warehouse = '*' AND courier = '*'`, res, ch); !maps.Equal(got, want) {
			tb.Fatalf("%s pre-summed rollups, res %d\n%v\nwant\n%v", ch, res, got, want)
		}
	}
	if got := read(`SELECT since, `+cols+` FROM figure_open WHERE channel = ? AND courier <> '*'`, ch); !maps.Equal(got, wantOpen) {
		tb.Fatalf("%s open gauges\n%v\nwant\n%v", ch, got, wantOpen)
	}
	wantSummedOpen := dfigures.Counts{}
	for c, n := range wantOpen {
		c.Scope = dfigures.Scope{Channel: c.Scope.Channel, Shop: dfigures.Summed, Warehouse: dfigures.Summed, Courier: dfigures.Summed}
		if wantSummedOpen[c] += n; wantSummedOpen[c] == 0 {
			delete(wantSummedOpen, c)
		}
	}
	if got := read(`SELECT since, `+cols+` FROM figure_open WHERE channel = ? AND shop = '*' AND warehouse = '*' AND courier = '*'`, ch); !maps.Equal(got, wantSummedOpen) {
		tb.Fatalf("%s pre-summed open gauges\n%v\nwant\n%v", ch, got, wantSummedOpen)
	}
	// The phone tail column follows the twin.
	for _, tw := range twins {
		want := ""
		if tw.Details.Receiver != nil {
			want = tw.Details.Receiver.PhoneTail()
		}
		var got string
		if err := testDB.QueryRowContext(ctx, `SELECT phone_tail FROM orders WHERE channel = ? AND order_no = ?`, tw.Key.Channel, tw.Key.OrderNo).Scan(&got); err != nil || got != want {
			tb.Fatalf("%s phone_tail %q (%v), want %q", tw.Key, got, err, want)
		}
	}
}
