package incidents_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/domain/alert"
	"github.com/towerhq/tower/domain/incident"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/alerts"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/incidents"
	"github.com/towerhq/tower/internal/notifications/dingtalk"
	"github.com/towerhq/tower/internal/notifications/notifier"
	"github.com/towerhq/tower/internal/notifications/wecom"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "incidents", &testDB)) }

var quiet = slog.New(slog.DiscardHandler)

var migrateOnce = sync.OnceValue(func() error {
	return migrations.Migrate(context.Background(), testDB, quiet)
})

func migrated(t *testing.T) *bun.DB {
	t.Helper()
	if err := migrateOnce(); err != nil {
		t.Fatal(err)
	}
	return testDB
}

// bus keeps what is published (the tests hand it on themselves).
type bus struct {
	mu   sync.Mutex
	msgs []events.IncidentChanges
}

func (b *bus) PublishTx(_ context.Context, _ *sql.Tx, topic string, msgs ...*message.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range msgs {
		var ch events.IncidentChanges
		if err := json.Unmarshal(m.Payload, &ch); err != nil {
			return err
		}
		b.msgs = append(b.msgs, ch)
	}
	return nil
}
func (b *bus) Publisher() message.Publisher                                     { return nil }
func (b *bus) Subscriber(string) (message.Subscriber, error)                    { return nil, nil }
func (b *bus) Tail(context.Context, string, string) (message.Subscriber, error) { return nil, nil }
func (b *bus) Partitions() int                                                  { return 1 }
func (b *bus) Ping(context.Context) error                                       { return nil }
func (b *bus) Logger() watermill.LoggerAdapter                                  { return watermill.NopLogger{} }
func (b *bus) take() []events.IncidentChanges {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.msgs
	b.msgs = nil
	return m
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var seq atomic.Int64

// world is one test's warehouse (unique, so tests share the database) and
// store.
type world struct {
	t         *testing.T
	db        *bun.DB
	clk       *clock
	bus       *bus
	store     *incidents.Store
	warehouse string
}

func newWorld(t *testing.T) *world {
	db := migrated(t)
	clk := &clock{t: time.Now().Truncate(time.Second)}
	b := &bus{}
	w := &world{t: t, db: db, clk: clk, bus: b, warehouse: fmt.Sprintf("WH-%d-%d", os.Getpid(), seq.Add(1)),
		store: incidents.New(incidents.Options{DB: db, Bus: b, Now: clk.Now, Logger: quiet,
			Config: incident.Config{MinMembers: 5, Window: 10 * time.Minute, Quiet: 30 * time.Minute}})}
	return w
}

// order stores a twin shipped from the world's warehouse by courier.
func (w *world) order(channel, no, shop, courier, amount string) order.Key {
	w.t.Helper()
	twin := map[string]any{"key": map[string]any{"channel": channel, "orderNo": no}, "stage": "OUTBOUND",
		"details": map[string]any{"warehouse": w.warehouse, "courier": courier, "shop": shop, "amount": amount}}
	doc, _ := json.Marshal(twin)
	now := w.clk.Now()
	if _, err := w.db.ExecContext(w.t.Context(), `INSERT INTO orders (channel, order_no, stage, twin, created_at, updated_at, projected_at)
		VALUES (?, ?, 'OUTBOUND', ?, ?, ?, ?)`, channel, no, string(doc), now, now, now); err != nil {
		w.t.Fatal(err)
	}
	return order.Key{Channel: channel, OrderNo: no}
}

// raise raises a not_collected alert on k at the clock's now.
func (w *world) raise(k order.Key) events.AlertSnapshot {
	w.t.Helper()
	var out []events.AlertSnapshot
	err := w.db.RunInTx(w.t.Context(), nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		out, err = alerts.Raise(ctx, tx, []alerts.Condition{{Rule: "outbound_not_collected", Kind: "not_collected", Severity: "critical",
			Order: k, Scope: w.warehouse, Summary: "出库 10 分钟后快递仍未揽收", Since: w.clk.Now()}}, w.clk.Now())
		return err
	})
	if err != nil || len(out) != 1 {
		w.t.Fatalf("raise on %s: %v %v", k, out, err)
	}
	return out[0]
}

func (w *world) resolveAlert(id int64) events.AlertSnapshot {
	w.t.Helper()
	var a events.AlertSnapshot
	err := w.db.RunInTx(w.t.Context(), nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		a, err = alerts.SetState(ctx, tx, id, alert.Resolved, "auto: courier.collected", w.clk.Now())
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

func (w *world) take(as ...events.AlertSnapshot) {
	w.t.Helper()
	if err := w.store.Take(w.t.Context(), as); err != nil {
		w.t.Fatal(err)
	}
}

// incidents lists this world's incidents (its warehouse's), newest first.
func (w *world) incidents() []events.IncidentSnapshot {
	w.t.Helper()
	var out []events.IncidentSnapshot
	p, err := w.store.List(w.t.Context(), w.db, "", accessWarehouse(w.warehouse), 100, "")
	if err != nil {
		w.t.Fatal(err)
	}
	out = append(out, p.Items...)
	return out
}

// A courier that stops collecting at one warehouse: the alerts of many
// orders become one incident with their blast radius, however the alert
// messages arrive (in order, shuffled, several times over), and the
// alerts point to it.
func TestCourierStoppedBecomesOneIncident(t *testing.T) {
	for _, tc := range []struct {
		name      string
		shuffle   bool
		repeats   int
		batchSize int
	}{
		{"in order, one message per alert", false, 1, 1},
		{"shuffled and redelivered", true, 3, 1},
		{"in batches, redelivered", true, 2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			var raised []events.AlertSnapshot
			for i := range 8 {
				shop := []string{"旗舰店", "专营店"}[i%2]
				k := w.order("tmall", fmt.Sprintf("%s-%d", w.warehouse, i), shop, "SF", "100.50")
				raised = append(raised, w.raise(k))
				w.clk.Advance(time.Minute)
			}
			// Another courier's two alerts at the same warehouse: no incident.
			for i := range 2 {
				raised = append(raised, w.raise(w.order("douyin", fmt.Sprintf("%s-z%d", w.warehouse, i), "抖音店", "ZTO", "9.90")))
			}
			var deliveries []events.AlertSnapshot
			for range tc.repeats {
				deliveries = append(deliveries, raised...)
			}
			if tc.shuffle {
				r := rand.New(rand.NewPCG(uint64(len(tc.name)), 1))
				r.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
			}
			for i := 0; i < len(deliveries); i += tc.batchSize {
				w.take(deliveries[i:min(i+tc.batchSize, len(deliveries))]...)
			}
			got := w.incidents()
			if len(got) != 1 {
				t.Fatalf("incidents = %+v, want one", got)
			}
			in := got[0]
			if in.Cause != "courier_stopped" || in.Key != w.warehouse+"/SF" || in.State != "OPEN" || in.Members != 8 || in.Orders != 8 ||
				in.Money != 8*100_50 || strings.Join(in.Shops, ",") != "专营店,旗舰店" || strings.Join(in.Channels, ",") != "tmall" ||
				!in.StartedAt.Equal(raised[0].RaisedAt) || !in.LastSeenAt.Equal(raised[7].RaisedAt) || in.Severity != "critical" {
				t.Errorf("incident %+v", in)
			}
			opened := 0
			for _, ch := range w.bus.take() {
				for _, s := range ch.Incidents {
					if s.Event == events.IncidentOpened {
						opened++
					}
				}
			}
			if opened != 1 {
				t.Errorf("opened told %d times, want once", opened)
			}
			var pointing int
			if err := w.db.QueryRowContext(t.Context(), `SELECT count(*) FROM alerts WHERE incident_id = ?`, in.ID).Scan(&pointing); err != nil || pointing != 8 {
				t.Errorf("alerts pointing at the incident: %d %v", pointing, err)
			}
			page, err := w.store.Members(t.Context(), w.db, in.ID, accessWarehouse(w.warehouse), 5, "")
			if err != nil || len(page.Items) != 5 || !page.HasNext || page.Items[0].ID != raised[7].ID {
				t.Fatalf("members page 1: %+v %v", page, err)
			}
			page2, err := w.store.Members(t.Context(), w.db, in.ID, accessWarehouse(w.warehouse), 5, page.Cursors[4])
			if err != nil || len(page2.Items) != 3 || page2.HasNext {
				t.Errorf("members page 2: %+v %v", page2, err)
			}
			if p, err := w.store.List(t.Context(), w.db, "", accessWarehouse("ELSEWHERE"), 10, ""); err != nil || len(p.Items) != 0 {
				t.Errorf("another warehouse sees %+v %v", p.Items, err)
			}
		})
	}
}

// An incident resolves by itself once no alert came for the quiet period
// and every member is resolved; by hand before that. Later alerts of the
// same cause open a new incident.
func TestIncidentLifecycle(t *testing.T) {
	w := newWorld(t)
	var raised []events.AlertSnapshot
	for i := range 5 {
		raised = append(raised, w.raise(w.order("tmall", fmt.Sprintf("%s-%d", w.warehouse, i), "旗舰店", "YTO", "10")))
	}
	w.take(raised...)
	in := w.incidents()[0]
	ack, err := w.store.SetState(t.Context(), in.ID, incident.Acknowledged, "ops-li")
	if err != nil || ack.State != "ACKNOWLEDGED" || ack.AcknowledgedBy != "ops-li" {
		t.Fatalf("acknowledge: %+v %v", ack, err)
	}
	w.clk.Advance(40 * time.Minute)
	if err := w.store.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := w.incidents()[0]; got.State != "ACKNOWLEDGED" {
		t.Fatalf("members stand: the incident stays, got %s", got.State)
	}
	var resolved []events.AlertSnapshot
	for _, a := range raised {
		resolved = append(resolved, w.resolveAlert(a.ID))
	}
	w.bus.take()
	// The last resolution arrives after the quiet period: it settles it.
	w.take(resolved...)
	got := w.incidents()[0]
	if got.State != "RESOLVED" || got.ResolvedBy != "auto: quiet" {
		t.Fatalf("after the quiet period with every member resolved: %+v", got)
	}
	if ch := w.bus.take(); len(ch) != 1 || ch[0].Incidents[0].Event != events.IncidentResolved {
		t.Errorf("resolution published: %+v", ch)
	}
	// The raises redelivered late (the alerts resolved meanwhile) change nothing.
	w.take(raised...)
	if list := w.incidents(); len(list) != 1 || list[0].State != "RESOLVED" {
		t.Fatalf("after late redelivery: %+v", list)
	}
	if _, err := w.store.SetState(t.Context(), got.ID, incident.Acknowledged, "ops-li"); err == nil {
		t.Error("a resolved incident moved")
	}
	// The cause again: a new incident, resolved by hand.
	var again []events.AlertSnapshot
	for i := range 5 {
		again = append(again, w.raise(w.order("tmall", fmt.Sprintf("%s-b%d", w.warehouse, i), "旗舰店", "YTO", "10")))
	}
	w.take(again...)
	list := w.incidents()
	if len(list) != 2 || list[0].ID == got.ID || list[0].Members != 5 {
		t.Fatalf("incidents %+v", list)
	}
	if r, err := w.store.SetState(t.Context(), list[0].ID, incident.Resolved, "ops-li"); err != nil || r.State != "RESOLVED" {
		t.Fatalf("resolve by hand: %+v %v", r, err)
	}
	// A late alert of the hand-resolved run does not reopen it.
	w.take(w.raise(w.order("tmall", w.warehouse+"-late", "旗舰店", "YTO", "10")))
	if list := w.incidents(); len(list) != 2 {
		t.Errorf("a lone alert after the hand resolution: %+v", list)
	}
}

// A connector failing its signatures and a channel gone silent are
// incidents too, found by the periodic check, resolved when they stop.
func TestSignalIncidents(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	source := fmt.Sprintf("src-%d", seq.Add(1))
	now := w.clk.Now()
	for i := range 12 {
		if _, err := w.db.ExecContext(ctx, `INSERT INTO webhook_deliveries (source, received_at, body, verified, status, outcome)
			VALUES (?, ?, '\x'::bytea, false, 401, 'bad_signature')`, source, now.Add(-time.Duration(i)*10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// One channel busy until 20 minutes ago, another busy until now.
	quietCh, busyCh := fmt.Sprintf("q%d", seq.Add(1)), fmt.Sprintf("b%d", seq.Add(1))
	for i := range 100 {
		for _, c := range []struct {
			ch  string
			off time.Duration
		}{{quietCh, 20 * time.Minute}, {busyCh, 0}} {
			at := now.Add(-c.off - time.Duration(i)*30*time.Second)
			if _, err := w.db.ExecContext(ctx, `INSERT INTO order_events (source, event_id, kind, system, channel, order_no, occurred_at, received_at)
				VALUES (?, ?, 'order.paid', 'channel', ?, ?, ?, ?)`, c.ch, fmt.Sprint(c.ch, i), c.ch, fmt.Sprint(i), at, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.store.Check(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := w.store.List(ctx, w.db, "OPEN", accessAll(), 100, "")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]events.IncidentSnapshot{}
	for _, in := range all.Items {
		found[in.Cause+":"+in.Key] = in
	}
	sig, ok := found["signature_failures:"+source]
	if !ok || sig.Members != 12 {
		t.Errorf("signature incident %+v (found %v)", sig, ok)
	}
	if _, ok := found["channel_silent:"+quietCh]; !ok {
		t.Errorf("no silence incident for %s: %+v", quietCh, found)
	}
	if _, ok := found["channel_silent:"+busyCh]; ok {
		t.Errorf("the busy channel %s is not silent", busyCh)
	}
	// Checking again changes nothing.
	w.bus.take()
	if err := w.store.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ch := range w.bus.take() {
		for _, s := range ch.Incidents {
			if s.Event == events.IncidentOpened && (s.Key == source || s.Key == quietCh) {
				t.Errorf("opened again: %+v", s)
			}
		}
	}
	// The channel speaks again; half an hour without a bad signature.
	if _, err := w.db.ExecContext(ctx, `INSERT INTO order_events (source, event_id, kind, system, channel, order_no, occurred_at, received_at)
		VALUES (?, 'again', 'order.paid', 'channel', ?, 'again', ?, ?)`, quietCh, quietCh, now, now); err != nil {
		t.Fatal(err)
	}
	w.clk.Advance(31 * time.Minute)
	if err := w.store.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{sig.ID, found["channel_silent:"+quietCh].ID} {
		in, err := w.store.Get(ctx, w.db, id, accessAll())
		if err != nil || in.State != "RESOLVED" {
			t.Errorf("incident %d after its cause stopped: %+v %v", id, in, err)
		}
	}
}

// The robots get one message when the incident opens and one when it
// resolves, not one per member alert: WeCom and DingTalk, through their
// wire fakes and the notifier's bus handlers.
func TestOneRobotMessagePerIncident(t *testing.T) {
	w := newWorld(t)
	wc := wecom.NewFake("wk-incident", nil)
	dt := dingtalk.NewFake("dt-incident", "SECabcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567", nil)
	ws, ds := httptest.NewServer(wc), httptest.NewServer(dt)
	t.Cleanup(ws.Close)
	t.Cleanup(ds.Close)
	wName, dName := w.warehouse+"/wecom", w.warehouse+"/dingtalk"
	n := notifier.New(notifier.Options{DB: w.db, Logger: quiet, File: config.Notify{
		Channels: []config.NotifyChannel{
			{Name: wName, Type: "wecom", WebhookURL: ws.URL + "/cgi-bin/webhook/send?key=wk-incident"},
			{Name: dName, Type: "dingtalk", WebhookURL: ds.URL + "/robot/send?access_token=dt-incident",
				Secret: "SECabcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567"},
		},
		// Only this test's warehouse: other tests' alerts share the database.
		Routes:      []config.NotifyRoute{{Channel: wName, Scopes: []string{w.warehouse}}, {Channel: dName, Scopes: []string{w.warehouse}}},
		GroupWindow: 2 * time.Second,
	}})
	ctx, cancel := context.WithCancel(t.Context())
	defer func() { cancel(); n.Wait() }()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deliver := func(h func(*message.Message) error, payload any) {
		t.Helper()
		b, _ := json.Marshal(payload)
		msg := message.NewMessage(watermill.NewUUID(), b)
		msg.SetContext(t.Context())
		if err := h(msg); err != nil {
			t.Fatal(err)
		}
	}
	// Each alert message reaches both consumer groups, as on the bus.
	const members = 12
	var raised []events.AlertSnapshot
	for i := range members {
		a := w.raise(w.order("tmall", fmt.Sprintf("%s-%d", w.warehouse, i), "旗舰店", "SF", "50"))
		raised = append(raised, a)
		deliver(n.Handle, events.AlertChanges{Alerts: []events.AlertSnapshot{a}})
		deliver(w.store.Handle, events.AlertChanges{Alerts: []events.AlertSnapshot{a}})
		for _, ch := range w.bus.take() {
			deliver(n.HandleIncidents, ch)
			deliver(n.HandleIncidents, ch) // redelivered: nothing more
		}
	}
	pending := func() int {
		var c int
		if err := w.db.QueryRowContext(t.Context(), `SELECT count(*) FROM notification_outbox WHERE state = 'pending' AND channel IN (?, ?)`,
			wName, dName).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	pgtest.WaitFor(t, 30*time.Second, func() bool { return pending() == 0 && len(wc.Messages()) > 0 && len(dt.Messages()) > 0 })
	for name, texts := range map[string][]string{"wecom": wecomTexts(wc), "dingtalk": dingTexts(dt)} {
		if len(texts) != 1 || !strings.Contains(texts[0], "快递停止揽收 "+w.warehouse+"/SF") || !strings.Contains(texts[0], "影响 **5** 单") {
			t.Errorf("%s messages: %q", name, texts)
		}
	}
	var folded int
	if err := w.db.QueryRowContext(t.Context(), `SELECT count(*) FROM notification_outbox WHERE state = 'folded' AND channel = ?`, wName).Scan(&folded); err != nil || folded != members {
		t.Errorf("alerts folded into the incident: %d %v", folded, err)
	}
	// Resolved: one more message each.
	var resolved []events.AlertSnapshot
	for _, a := range raised {
		resolved = append(resolved, w.resolveAlert(a.ID))
	}
	deliver(w.store.Handle, events.AlertChanges{Alerts: resolved})
	w.clk.Advance(31 * time.Minute)
	if err := w.store.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, ch := range w.bus.take() {
		deliver(n.HandleIncidents, ch)
	}
	pgtest.WaitFor(t, 30*time.Second, func() bool { return pending() == 0 && len(wc.Messages()) >= 2 && len(dt.Messages()) >= 2 })
	for name, texts := range map[string][]string{"wecom": wecomTexts(wc), "dingtalk": dingTexts(dt)} {
		if len(texts) != 2 || !strings.Contains(texts[1], "事件已恢复") || !strings.Contains(texts[1], "影响 **12** 单") {
			t.Errorf("%s messages: %q", name, texts)
		}
	}
}

func wecomTexts(f *wecom.Fake) []string {
	var out []string
	for _, m := range f.Messages() {
		out = append(out, m.Content)
	}
	return out
}

func dingTexts(f *dingtalk.Fake) []string {
	var out []string
	for _, m := range f.Messages() {
		out = append(out, m.Title+"\n"+m.Text)
	}
	return out
}

func accessWarehouse(w string) access.Scopes { return access.Scopes{Warehouses: []string{w}} }
func accessAll() access.Scopes               { return access.Scopes{} }
