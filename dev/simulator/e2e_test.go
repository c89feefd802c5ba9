package simulator_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/towerhq/tower/dev/simulator"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/app"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/platforms/douyin"
	"github.com/towerhq/tower/internal/platforms/douyin/douyintest"
	"github.com/towerhq/tower/internal/platforms/kuaidi100"
	"github.com/towerhq/tower/internal/platforms/kuaidi100/kuaidi100test"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/qimen"
	"github.com/towerhq/tower/internal/platforms/qimen/qimentest"
	"github.com/towerhq/tower/internal/platforms/standard"
	"github.com/towerhq/tower/internal/platforms/standard/standardtest"
	"github.com/towerhq/tower/internal/platforms/tmall"
	"github.com/towerhq/tower/internal/platforms/tmall/tmalltest"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
	"github.com/towerhq/tower/internal/platforms/wechatpay/wechatpaytest"
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
	defer drop()
	ctx := context.Background()

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := wechatpay.MarshalPublicKeyPEM(&key.PublicKey)
	pemFile := filepath.Join(t.TempDir(), "wechatpay_pub.pem")
	if err := os.WriteFile(pemFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	secret := func() string {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		return "whsec_" + base64.StdEncoding.EncodeToString(b)
	}
	mpSecret, erpSecret := secret(), secret()
	const apiv3 = "0123456789abcdef0123456789abcdef"

	// The channels' order-list APIs, fed as the day is played.
	state := simulator.NewChannelState()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &http.Server{Handler: platformtest.NewMux(state.Store, nil,
		douyintest.OrderList("7000000000000000001", "douyin-secret"),
		tmalltest.OrderList("23456789", "tmall-secret"),
		standardtest.OrderList(mpSecret))}
	go func() { _ = fake.Serve(ln) }()
	defer fake.Close()
	pullBase := "http://" + ln.Addr().String()

	cfg := config.Default()
	cfg.HTTPAddr, cfg.DatabaseURL, cfg.NodeName = "127.0.0.1:0", dsn, "sim"
	cfg.Sources = []config.Source{
		{Name: "douyin", Type: "douyin", Settings: douyin.Settings{AppKey: "7000000000000000001", AppSecret: "douyin-secret"},
			PullURL: pullBase + "/douyin", ReconcileEvery: time.Hour, ReconcileGrace: time.Millisecond},
		{Name: "tmall", Type: "tmall", Settings: tmall.Settings{AppKey: "23456789", AppSecret: "tmall-secret"},
			PullURL: pullBase + "/tmall", ReconcileEvery: time.Hour, ReconcileGrace: time.Millisecond},
		{Name: "mp-pay", Type: "wechatpay", Settings: wechatpay.Settings{MchID: "1900000001", APIv3Key: apiv3,
			PlatformPublicKeyFile: pemFile, PlatformPublicKeyID: "PUB_KEY_ID_01"}},
		{Name: "mp", Type: "standard", Channel: "miniprogram", Settings: standard.Settings{Secrets: []string{mpSecret}},
			PullURL: pullBase + "/miniprogram", ReconcileEvery: time.Hour, ReconcileGrace: time.Millisecond},
		{Name: "wms", Type: "qimen", Settings: qimen.Settings{AppKey: "wms-key", AppSecret: "wms-secret", CustomerID: "C1001"}},
		{Name: "kd100", Type: "kuaidi100", Settings: kuaidi100.Settings{Salt: "k100salt"}},
		{Name: "erp", Type: "standard", Settings: standard.Settings{Secrets: []string{erpSecret}}},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	node, err := app.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	url, err := node.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = node.Shutdown(context.Background()) }()

	sc := simulator.Defaults()
	sc.Orders, sc.Seed = 400, 7
	sc.Faults.DuplicateRate, sc.Faults.ReorderRate, sc.Faults.LostRate = 0.05, 0.1, 0.03
	plan := simulator.Generate(sc)
	routes := simulator.Routes{
		douyintest.Pusher{Source: "douyin", AppKey: "7000000000000000001", AppSecret: "douyin-secret"},
		tmalltest.Pusher{Source: "tmall", AppKey: "23456789", AppSecret: "tmall-secret"},
		wechatpaytest.Pusher{Source: "mp-pay", MchID: "1900000001", Signer: wechatpay.Signer{APIv3Key: apiv3, PrivateKey: key, Serial: "PUB_KEY_ID_01"}},
		standardtest.Pusher{Source: "mp", Secret: mpSecret, Channel: order.ChannelMiniProgram},
		qimentest.Pusher{Source: "wms", AppKey: "wms-key", AppSecret: "wms-secret", CustomerID: "C1001"},
		kuaidi100test.Pusher{Source: "kd100", Salt: "k100salt"},
		standardtest.Pusher{Source: "erp", Secret: erpSecret},
	}
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
