package simulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/towerhq/tower/dev/simulator"
	dfigures "github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/internal/figures"
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
	// The node's own scheduled reconciliation may still be bringing in a
	// lost payment the pull above did not: wait for the figures to settle.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if len(compareFigures(t, url, n.token, plan, false)) == 0 {
			break
		}
	}
	compareFigures(t, url, n.token, plan, true)

	var dups, events int
	_ = db.NewRaw(`SELECT coalesce(sum(events_duplicate), 0) FROM webhook_deliveries`).Scan(ctx, &dups)
	_ = db.NewRaw(`SELECT count(*) FROM order_events`).Scan(ctx, &events)
	t.Logf("simulated %d orders in %s: %d pushes (%d deliberate duplicates), %d events stored, %d duplicate events absorbed, %d lost pushes, %d recovered by reconciliation; %d orders off their intended stage",
		len(plan.Orders), time.Since(start).Round(time.Millisecond), st.Sent, st.Duplicates, events, dups, len(plan.Lost), recovered, wrong)
}

// compareFigures checks the figures Tower shows for the simulated day
// against the ground truth: the same definitions over the twins of the
// lifecycles the simulator intended. Tower's come through GraphQL, from
// rollups kept while the pushes arrived duplicated, reordered and (for the
// channel's) lost and recovered.
func compareFigures(t *testing.T, url, token string, plan *simulator.Plan, report bool) (diffs []string) {
	t.Helper()
	twins := make([]*twin.Twin, 0, len(plan.Orders))
	for _, o := range plan.Orders {
		tw := twin.New(o.Key)
		tw.ApplyAll(o.Events)
		twins = append(twins, tw)
	}
	from := plan.Config.Start.Add(-time.Hour)
	to := from.Add(figures.MaxWindow)
	flows, _ := dfigures.Recompute(twins, dfigures.DefaultSettings())
	var rows []dfigures.Row
	for c, n := range flows {
		if !c.At.Before(from) && c.At.Before(to) {
			rows = append(rows, dfigures.Row{At: c.At, Span: time.Minute, Metric: c.Metric, Label: c.Label, N: n})
		}
	}
	truth := dfigures.Summarize(rows, time.Now())

	var got struct {
		Figures struct {
			Orders, Inflow, Outbound, Delivered, Packed int
			OnTimeShip, OnTimeDelivery, SameDayShipping struct{ Count, Of int }
			PaidToOutbound, PaidToWms                   struct{ Count int }
		}
	}
	body, _ := json.Marshal(map[string]any{"query": `query($f: Time!, $t: Time!) { figures(from: $f, to: $t) {
		orders inflow outbound delivered packed onTimeShip { count of } onTimeDelivery { count of } sameDayShipping { count of }
		paidToOutbound { count } paidToWms { count } } }`,
		"variables": map[string]any{"f": from.Format(time.RFC3339), "t": to.Format(time.RFC3339)}})
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   json.RawMessage
		Errors []map[string]any
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Errors) > 0 {
		t.Fatalf("figures: %v %v", err, out.Errors)
	}
	if err := json.Unmarshal(out.Data, &got); err != nil {
		t.Fatal(err)
	}
	f := got.Figures
	rows2 := []struct {
		name        string
		tower, want [2]int64
	}{
		{"orders", [2]int64{int64(f.Orders)}, [2]int64{truth.Created}},
		{"paid (inflow)", [2]int64{int64(f.Inflow)}, [2]int64{truth.Paid}},
		{"out of the warehouse", [2]int64{int64(f.Outbound)}, [2]int64{truth.Outbound}},
		{"delivered", [2]int64{int64(f.Delivered)}, [2]int64{truth.Delivered}},
		{"packed", [2]int64{int64(f.Packed)}, [2]int64{truth.Packed}},
		{"on-time ship", [2]int64{int64(f.OnTimeShip.Count), int64(f.OnTimeShip.Of)}, [2]int64{truth.OnTimeShip.Num, truth.OnTimeShip.Den}},
		{"on-time delivery", [2]int64{int64(f.OnTimeDelivery.Count), int64(f.OnTimeDelivery.Of)}, [2]int64{truth.OnTimeDelivery.Num, truth.OnTimeDelivery.Den}},
		{"same-day shipping", [2]int64{int64(f.SameDayShipping.Count), int64(f.SameDayShipping.Of)}, [2]int64{truth.SameDay.Num, truth.SameDay.Den}},
		{"paid to outbound (count)", [2]int64{int64(f.PaidToOutbound.Count)}, [2]int64{truth.PaidToOutbound.Count()}},
		{"paid to WMS (count)", [2]int64{int64(f.PaidToWms.Count)}, [2]int64{truth.PaidToWMS.Count()}},
	}
	for _, r := range rows2 {
		if report {
			t.Logf("%-26s Tower %v  ground truth %v", r.name, r.tower, r.want)
		}
		if r.tower != r.want {
			diffs = append(diffs, r.name)
			if report {
				t.Errorf("%s: Tower shows %v, the ground truth is %v", r.name, r.tower, r.want)
			}
		}
	}
	return diffs
}
