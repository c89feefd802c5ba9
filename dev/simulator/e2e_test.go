package simulator_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/towerhq/tower/dev/simulator"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/platforms/douyin/douyintest"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/standard/standardtest"
	"github.com/towerhq/tower/internal/platforms/tmall/tmalltest"
	"github.com/towerhq/tower/internal/storage"
)

// A short compressed day through all five platform source types, with
// duplicates, reordering and lost pushes: every order's twin ends in the
// stage the simulator intended, lost pushes recovered by reconciliation.
func TestSimulatedDayEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("plays a whole compressed day")
	}
	dsn, drop := pgtest.CreateDB(t, "simulator")
	t.Cleanup(drop) // after the node's shutdown (cleanups run last first)
	ctx := context.Background()

	// The channels' order-list APIs, fed as the day is played.
	state := simulator.NewChannelState()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := newSimNode(t, dsn, "http://"+ln.Addr().String())
	fake := &http.Server{Handler: platformtest.NewMux(state.Store, nil,
		douyintest.OrderList("7000000000000000001", "douyin-secret"),
		tmalltest.OrderList("23456789", "tmall-secret"),
		standardtest.OrderList(n.mpSecret))}
	go func() { _ = fake.Serve(ln) }()
	defer fake.Close()
	node, url, routes, log := n.node, n.url, n.routes, n.log

	sc := simulator.Defaults()
	sc.Orders, sc.Seed = 400, 7
	sc.Faults.DuplicateRate, sc.Faults.ReorderRate, sc.Faults.LostRate = 0.05, 0.1, 0.03
	plan := simulator.Generate(sc)
	player := &simulator.Player{
		Plan: plan, BaseURL: url, Route: routes.Route, Speed: 250_000, Workers: 16, Log: log,
		OnPlayed: func(s simulator.Send, _ bool, at time.Time) { state.Remember(s.Event, at) },
	}
	start := time.Now()
	if err := player.Play(ctx); err != nil {
		t.Fatal(err)
	}
	st := player.Stats()
	if st.Failed+st.Refused+st.Skipped != 0 {
		t.Fatalf("pushes failed %d, refused %d, skipped %d", st.Failed, st.Refused, st.Skipped)
	}
	db := node.DB
	settle := func() {
		t.Helper()
		// The projection has caught up when every stored event is on a twin.
		pgtest.WaitFor(t, 60*time.Second, func() bool {
			var pending int
			_ = db.NewRaw(`SELECT count(*) FROM watermill_order_events_v1 m, watermill_offsets_order_events_v1 o
				WHERE o.consumer_group = 'twin-projection' AND (m.transaction_id, m."offset") > (o.last_processed_transaction_id, o.offset_acked)`).Scan(ctx, &pending)
			return pending == 0
		})
	}
	settle()
	res, err := node.ReconcileOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recovered := 0
	for _, r := range res {
		recovered += r.Recovered
	}
	settle()

	// Every lost payment or cancellation was recovered.
	orders := storage.NewOrders(db)
	wantRecovered := 0
	for _, l := range plan.Lost {
		if l.Event.Kind != order.KindPaid && l.Event.Kind != order.KindCancelled {
			continue // not listed by order-list APIs
		}
		wantRecovered++
	}
	if recovered < wantRecovered {
		t.Errorf("reconciliation recovered %d events, %d payments/cancellations were lost", recovered, wantRecovered)
	}
	// Every order's twin ends in the stage the simulator intended.
	wrong := 0
	for _, o := range plan.Orders {
		s, err := orders.Get(ctx, o.Key)
		if err != nil {
			t.Errorf("order %s: %v", o.Key, err)
			wrong++
			continue
		}
		if s.Twin.Stage != o.Final {
			wrong++
			if wrong <= 5 {
				t.Errorf("order %s: stage %s, intended %s (timeline %d entries)", o.Key, s.Twin.Stage, o.Final, len(s.Twin.Timeline))
			}
		}
	}
	var dups, events int
	_ = db.NewRaw(`SELECT coalesce(sum(events_duplicate), 0) FROM webhook_deliveries`).Scan(ctx, &dups)
	_ = db.NewRaw(`SELECT count(*) FROM order_events`).Scan(ctx, &events)
	t.Logf("simulated %d orders in %s: %d pushes (%d deliberate duplicates), %d events stored, %d duplicate events absorbed, %d lost pushes, %d recovered by reconciliation; %d orders off their intended stage",
		len(plan.Orders), time.Since(start).Round(time.Millisecond), st.Sent, st.Duplicates, events, dups, len(plan.Lost), recovered, wrong)
}
