package figures_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	dfigures "github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/alerts"
	"github.com/towerhq/tower/internal/figures"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/projection"
	"github.com/towerhq/tower/migrations"
)

var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "figures", &testDB)) }

var quiet = slog.New(slog.DiscardHandler)

// t0 is 09:00 in Shanghai.
var t0 = time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

var channels atomic.Int64

// setup migrates, and returns a projection that keeps rollups, a reader,
// and a channel of the test's own (rollups are shared by the package).
func setup(t *testing.T) (*projection.Twins, *figures.Reader, string) {
	t.Helper()
	ctx := context.Background()
	if err := migrations.Migrate(ctx, testDB, quiet); err != nil {
		t.Fatal(err)
	}
	bus, err := events.NewPostgresBus(testDB.DB, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s := dfigures.DefaultSettings()
	p := projection.NewTwins(testDB, bus, metrics.New(), quiet, func() time.Time { return t0 }, projection.Options{Figures: figures.New(s)})
	r := figures.NewReader(testDB, figures.ReaderOptions{
		Settings: s, MinuteRetention: 48 * time.Hour, Goals: dfigures.DefaultGoals(),
		HealthWindow: 24 * time.Hour, BacklogSLA: 2 * time.Hour,
		ExceptionTags: func(context.Context) ([]string, error) { return []string{"超时未发货"}, nil },
	})
	return p, r, fmt.Sprintf("rd-%d-%d", time.Now().UnixNano()%1e6, channels.Add(1))
}

type lifecycle struct {
	no     string
	shop   string
	wh     string
	shipBy int
	steps  map[order.Kind]int // kind -> minute
	packer string
}

func (l lifecycle) events(ch string) []order.Event {
	k := order.Key{Channel: ch, OrderNo: l.no}
	var out []order.Event
	for kind, m := range l.steps {
		e := order.Event{ID: string(kind), Source: "s", Kind: kind, System: kind.DefaultSystem(), OccurredAt: at(m), Order: k}
		switch kind {
		case order.KindPaid:
			sb := at(l.shipBy)
			e.Data = order.Data{Shop: l.shop, ShipBy: &sb}
		case order.KindWMSReceived:
			e.Data.Warehouse = l.wh
		case order.KindWMSPacked:
			e.Data = order.Data{Warehouse: l.wh, Packer: l.packer}
		}
		out = append(out, e)
	}
	return out
}

// TestReader: a small day, read back through the reader as the views ask.
func TestReader(t *testing.T) {
	p, r, ch := setup(t)
	ctx := context.Background()
	orders := []lifecycle{
		// Paid 09:00, out 09:40 (on time), ship by 12:00.
		{no: "A", shop: "s1", wh: "HZ", shipBy: 180, packer: "P1", steps: map[order.Kind]int{
			order.KindPaid: 0, order.KindWMSReceived: 1, order.KindWMSPacked: 30, order.KindWMSOutbound: 40}},
		// Paid 09:10, out at 13:00, after its 12:00 deadline.
		{no: "B", shop: "s1", wh: "HZ", shipBy: 180, packer: "P1", steps: map[order.Kind]int{
			order.KindPaid: 10, order.KindWMSReceived: 11, order.KindWMSPacked: 200, order.KindWMSOutbound: 240}},
		// Paid 10:05, still picked at 14:00, ship by 11:00: late, waiting.
		{no: "C", shop: "s2", wh: "SH", shipBy: 120, steps: map[order.Kind]int{
			order.KindPaid: 65, order.KindWMSReceived: 70, order.KindWMSPicked: 90}},
	}
	for _, o := range orders {
		if _, err := p.Apply(ctx, o.events(ch)); err != nil {
			t.Fatal(err)
		}
	}
	now := at(300) // 14:00 Shanghai
	w, err := r.Figures(ctx, dfigures.Filter{Channels: []string{ch}}, at(-60), now, now)
	if err != nil {
		t.Fatal(err)
	}
	if w.Paid != 3 || w.Outbound != 2 || w.Packed != 2 || w.Packers["P1"] != 2 {
		t.Errorf("paid %d outbound %d packed %d packers %v", w.Paid, w.Outbound, w.Packed, w.Packers)
	}
	if w.OnTimeShip != (dfigures.Rate{Num: 1, Den: 3}) {
		t.Errorf("on-time ship %+v, want 1 of 3 (B late, C past due)", w.OnTimeShip)
	}
	if w.SameDay != (dfigures.Rate{Num: 2, Den: 3}) {
		t.Errorf("same day %+v", w.SameDay)
	}
	// C picked; A and B out of the warehouse, waiting for the courier.
	if len(w.Backlog) != 2 || w.Backlog[0].Stage != twin.StagePicked || w.Backlog[0].Count != 1 || !w.Backlog[0].Oldest.Equal(at(90)) ||
		w.Backlog[1].Stage != twin.StageOutbound || w.Backlog[1].Count != 2 || !w.Backlog[1].Oldest.Equal(at(40)) {
		t.Errorf("backlog %+v", w.Backlog)
	}
	if w.Waiting != (dfigures.Rate{Num: 1, Den: 1}) {
		t.Errorf("waiting over the 2h SLA %+v", w.Waiting)
	}
	if p50, ok := w.PaidToOutbound.Quantile(0.5); !ok || p50 < 40*time.Minute || p50 > 4*time.Hour {
		t.Errorf("paid to outbound p50 %v", p50)
	}
	// The hours of the window: 08:00 to 13:00 Shanghai (00:00 to 06:00 UTC).
	if len(w.Hours) != 6 {
		t.Fatalf("%d hours", len(w.Hours))
	}
	if h := w.Hours[1]; h.Paid != 2 || h.Outbound != 1 || h.Backlog[twin.StageInWarehouse] != 1 {
		t.Errorf("09:00 hour %+v", h)
	}
	if h := w.Hours[5]; h.Backlog[twin.StagePicked] != 1 || h.Backlog[twin.StageOutbound] != 2 || len(h.Backlog) != 2 {
		t.Errorf("last hour %+v", h)
	}
	// A week, three days on: the orders' business day, over, is read from
	// the channel's pre-summed day rows; the same week read from the
	// orders' own rows (a courier filter is never pre-summed) agrees.
	later := now.Add(72 * time.Hour)
	summed, err := r.Figures(ctx, dfigures.Filter{Channels: []string{ch}}, later.Add(-7*24*time.Hour).Truncate(time.Hour), later, later)
	if err != nil {
		t.Fatal(err)
	}
	detail, err := r.Figures(ctx, dfigures.Filter{Channels: []string{ch}, Couriers: []string{""}}, later.Add(-7*24*time.Hour).Truncate(time.Hour), later, later)
	if err != nil {
		t.Fatal(err)
	}
	if summed.Paid != 3 || summed.Packers["P1"] != 2 || !reflect.DeepEqual(summed.Summary, detail.Summary) {
		t.Errorf("a week from the pre-summed rows %+v\nfrom the orders' own %+v", summed.Summary, detail.Summary)
	}
	if got := figures.SpansString(r, later.Add(-7*24*time.Hour).Truncate(time.Hour), later, later, true); !strings.Contains(got, "{1440 ") {
		t.Errorf("the week's spans %s read no day", got)
	}
	// Narrower: shop s2 only.
	w2, err := r.Figures(ctx, dfigures.Filter{Channels: []string{ch}, Shops: []string{"s2"}}, at(-60), now, now)
	if err != nil {
		t.Fatal(err)
	}
	if w2.Paid != 1 || w2.OnTimeShip != (dfigures.Rate{Num: 0, Den: 1}) {
		t.Errorf("shop s2: paid %d on-time %+v", w2.Paid, w2.OnTimeShip)
	}
	// The health index over the trailing day: on-time ship 1/3 scores 0;
	// no delivery due; nothing abnormal; C waited past the SLA.
	idx, _, err := r.Health(ctx, dfigures.Filter{Channels: []string{ch}}, now)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]dfigures.Component{}
	for _, c := range idx.Components {
		byName[c.Name] = c
	}
	if c := byName[dfigures.OnTimeShipName]; !c.Known || c.Score != 0 {
		t.Errorf("on-time ship %+v", c)
	}
	if c := byName[dfigures.OnTimeDeliveryName]; c.Known {
		t.Errorf("on-time delivery known: %+v", c)
	}
	if c := byName[dfigures.BacklogAgeName]; !c.Known || c.Value != 1 {
		t.Errorf("backlog age %+v", c)
	}
	// Abnormal 0 and no divergence score 1: (0.2 + 0.1) / (0.3 + 0.2 + 0.1 + 0.15).
	if idx.Value != 40 {
		t.Errorf("index %v (%+v)", idx.Value, idx.Components)
	}
}

// TestReaderAlertsAndTags: the figures the twins cannot hold, read from
// where they live: abnormal orders (an open alert, or an exception tag),
// open divergences, and how long alerts took to be raised.
func TestReaderAlertsAndTags(t *testing.T) {
	p, r, ch := setup(t)
	ctx := context.Background()
	for _, o := range []lifecycle{
		{no: "A", shop: "s1", wh: "HZ", shipBy: 600, steps: map[order.Kind]int{order.KindPaid: 0, order.KindWMSOutbound: 40}},
		{no: "B", shop: "s1", wh: "HZ", shipBy: 600, steps: map[order.Kind]int{order.KindPaid: 5}},
		{no: "C", shop: "s1", wh: "HZ", shipBy: 600, steps: map[order.Kind]int{order.KindPaid: 9}},
	} {
		if _, err := p.Apply(ctx, o.events(ch)); err != nil {
			t.Fatal(err)
		}
	}
	// A: out but not collected, an open divergence alert raised 47 s after
	// its condition became true; B: an exception tag; C: a resolved alert
	// and an informational tag only.
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := testDB.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	alert := `INSERT INTO alerts (rule, kind, severity, state, channel, order_no, condition_since, raised_at, updated_at) VALUES (?, ?, 'warning', ?, ?, ?, ?, ?, ?)`
	exec(alert, "outbound_not_collected", "not_collected", "OPEN", ch, "A", at(50), at(50).Add(47*time.Second), at(51))
	exec(alert, "returned", "returned", "RESOLVED", ch, "C", at(20), at(80), at(80))
	exec(`UPDATE orders SET tags = ? WHERE channel = ? AND order_no = ?`, pgdialect.Array([]string{"超时未发货"}), ch, "B")
	exec(`UPDATE orders SET tags = ? WHERE channel = ? AND order_no = ?`, pgdialect.Array([]string{"偏远地区"}), ch, "C")

	now := at(300)
	w, err := r.Figures(ctx, dfigures.Filter{Channels: []string{ch}}, at(-60), now, now)
	if err != nil {
		t.Fatal(err)
	}
	if w.Abnormal != (dfigures.Rate{Num: 2, Den: 3}) {
		t.Errorf("abnormal %+v, want A (open alert) and B (exception tag) of 3", w.Abnormal)
	}
	if w.Divergences != (dfigures.Rate{Num: 1, Den: 3}) {
		t.Errorf("divergences %+v, want A of the 3 open", w.Divergences)
	}
	if w.DetectionTime.Count() != 2 {
		t.Fatalf("detection times %v, want both alerts raised in the window", w.DetectionTime)
	}
	if w.DetectionTime[dfigures.Bin(47*time.Second)] != 1 || w.DetectionTime[dfigures.Bin(time.Hour)] != 1 {
		t.Errorf("detection histogram %v, want 47 s and 1 h in their bins", w.DetectionTime)
	}
	// Another warehouse sees none of it.
	w2, err := r.Figures(ctx, dfigures.Filter{Channels: []string{ch}, Warehouses: []string{"SH"}}, at(-60), now, now)
	if err != nil {
		t.Fatal(err)
	}
	if w2.Abnormal.Num != 0 || w2.Divergences.Num != 0 || w2.DetectionTime.Count() != 0 {
		t.Errorf("warehouse SH: abnormal %+v divergences %+v detection %v", w2.Abnormal, w2.Divergences, w2.DetectionTime)
	}
}

// TestSpans: a window is read once, whole hours by the hour, its ends by
// the minute while minute rollups exist; with days (pre-summed scopes), the
// business days (Shanghai's: from 16:00 UTC) over by now by the day.
func TestSpans(t *testing.T) {
	r := figures.NewReader(nil, figures.ReaderOptions{MinuteRetention: 48 * time.Hour, Settings: dfigures.DefaultSettings()})
	h := func(hh, mm int) time.Time { return time.Date(2026, 11, 25, hh, mm, 0, 0, time.UTC) }
	now := h(23, 0)
	tests := []struct {
		name     string
		from, to time.Time
		days     bool
		want     string
	}{
		{"whole hours", h(1, 0), h(5, 0), false, "[{60 25 01:00 25 05:00}]"},
		{"ends inside hours", h(1, 10), h(5, 30), false, "[{1 25 01:10 25 02:00} {60 25 02:00 25 05:00} {1 25 05:00 25 05:30}]"},
		{"within one hour", h(3, 10), h(3, 20), false, "[{1 25 03:10 25 03:20}]"},
		{"empty", h(3, 10), h(3, 10), false, "[]"},
		{"an end older than the minutes: its whole hour", h(1, 10).Add(-72 * time.Hour), h(3, 0).Add(-72 * time.Hour), false, "[{60 22 01:00 22 02:00} {60 22 02:00 22 03:00}]"},
		{"no whole day: hours", h(1, 0), h(5, 0), true, "[{60 25 01:00 25 05:00}]"},
		{"seven business days to tomorrow: six by the day, today by the hour",
			h(16, 0).Add(-7 * 24 * time.Hour), h(16, 0).Add(24 * time.Hour), true,
			"[{1440 18 16:00 25 16:00} {60 25 16:00 26 16:00}]"},
		{"ends by the hour and the minute around the days",
			h(9, 30).Add(-3 * 24 * time.Hour), h(20, 15), true,
			"[{60 22 09:00 22 10:00} {60 22 10:00 22 16:00} {1440 22 16:00 25 16:00} {60 25 16:00 25 20:00} {1 25 20:00 25 20:15}]"},
		{"without days the same range by the hour",
			h(9, 30).Add(-3 * 24 * time.Hour), h(20, 15), false,
			"[{60 22 09:00 22 10:00} {60 22 10:00 25 20:00} {1 25 20:00 25 20:15}]"},
	}
	for _, tt := range tests {
		if got := figures.SpansString(r, tt.from, tt.to, now, tt.days); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestDetectionFollowsTheOrder: the detection times under a shop or a
// warehouse count the alerts of the orders there now: an alert copies its
// order's shop and warehouse when raised, and follows the order when the
// WMS moves it to another warehouse.
func TestDetectionFollowsTheOrder(t *testing.T) {
	p, r, ch := setup(t)
	ctx := context.Background()
	d := lifecycle{no: "D", shop: "s9", wh: "HZ", shipBy: 600, steps: map[order.Kind]int{order.KindPaid: 0, order.KindWMSReceived: 2}}
	if _, err := p.Apply(ctx, d.events(ch)); err != nil {
		t.Fatal(err)
	}
	if err := testDB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		_, err := alerts.Raise(ctx, tx, []alerts.Condition{{Rule: "not_packed", Kind: "sla", Severity: "warning",
			Order: order.Key{Channel: ch, OrderNo: "D"}, Since: at(10)}}, at(10).Add(90*time.Second))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	now := at(300)
	// The detection times, and the abnormal orders (its open alert makes
	// the order abnormal): both read the alerts by the order's place.
	count := func(f dfigures.Filter) int64 {
		t.Helper()
		f.Channels = []string{ch}
		w, err := r.Figures(ctx, f, at(-60), now, now)
		if err != nil {
			t.Fatal(err)
		}
		if w.Abnormal.Num != w.DetectionTime.Count() {
			t.Errorf("%v: %d abnormal orders, %d detection times, want the one order with its alert in both", f, w.Abnormal.Num, w.DetectionTime.Count())
		}
		return w.DetectionTime.Count()
	}
	cases := []struct {
		name   string
		f      dfigures.Filter
		before int64
		after  int64
	}{
		{"its shop", dfigures.Filter{Shops: []string{"s9"}}, 1, 1},
		{"another shop", dfigures.Filter{Shops: []string{"s1"}}, 0, 0},
		{"its first warehouse", dfigures.Filter{Warehouses: []string{"HZ"}}, 1, 0},
		{"the warehouse it moves to", dfigures.Filter{Warehouses: []string{"SH"}}, 0, 1},
	}
	for _, c := range cases {
		if got := count(c.f); got != c.before {
			t.Errorf("%s, before the move: %d alerts, want %d", c.name, got, c.before)
		}
	}
	moved := order.Event{ID: "moved", Source: "s", Kind: order.KindWMSPacked, System: order.KindWMSPacked.DefaultSystem(),
		OccurredAt: at(20), Order: order.Key{Channel: ch, OrderNo: "D"}, Data: order.Data{Warehouse: "SH"}}
	if _, err := p.Apply(ctx, []order.Event{moved}); err != nil {
		t.Fatal(err)
	}
	// A later minute: the reader's short cache holds the same question.
	now = at(301)
	for _, c := range cases {
		if got := count(c.f); got != c.after {
			t.Errorf("%s, after the move: %d alerts, want %d", c.name, got, c.after)
		}
	}
}
