// Package server wires Tower together and serves HTTP: webhooks, GraphQL
// (HTTP and websockets), probes, metrics and the SPA.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uptrace/bun"

	"github.com/towerhq/tower/dev/pglocal"
	"github.com/towerhq/tower/dev/simulator"
	"github.com/towerhq/tower/domain/rules"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/graph/resolvers"
	"github.com/towerhq/tower/internal/clock"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/detection"
	"github.com/towerhq/tower/internal/ingest"
	"github.com/towerhq/tower/internal/live"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/registry"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
	"github.com/towerhq/tower/internal/projection"
	"github.com/towerhq/tower/internal/reconcile"
	"github.com/towerhq/tower/internal/storage"
	"github.com/towerhq/tower/internal/timers"
	"github.com/towerhq/tower/migrations"
)

// App is a running Tower node.
type App struct {
	cfg       config.Config
	log       *slog.Logger
	now       func() time.Time
	Clock     clock.Clock
	localPG   *pglocal.Server
	detector  *detection.Detector
	Rules     *detection.Rules
	scheduler *timers.Scheduler
	notifier  *notifier
	DB        *bun.DB
	Bus       events.Bus
	Metrics   *metrics.Metrics
	committer *ingest.Committer
	router    *message.Router
	reconcile *reconcile.Runner
	Reconcile []reconcile.Source
	http      *http.Server
	debug     *http.Server
	listener  net.Listener
	routerCtx context.Context
	stopBus   context.CancelFunc
	busDone   chan error

	shutdownOnce sync.Once
	shutdownErr  error
}

// New connects (starting the project-local PostgreSQL when no database URL
// is configured), migrates, and builds every part. Nothing serves until Start.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, Metrics: metrics.New()}
	if cfg.Mode == "simulation" {
		sc := clock.NewScaled(nil)
		if cfg.ClockSpeed > 0 {
			if err := sc.SetSpeed(cfg.ClockSpeed); err != nil {
				return nil, fmt.Errorf("clock_speed: %w", err)
			}
		}
		a.Clock = sc
	} else {
		a.Clock = clock.Real{}
	}
	a.now = a.Clock.Now
	defer func() {
		if err != nil {
			a.closeStorage()
		}
	}()
	dsn := cfg.DatabaseURL
	if dsn == "" {
		a.localPG, err = pglocal.Start(ctx, pglocal.Options{Dir: cfg.DataDir + "/postgres", Logger: log})
		if err != nil {
			return nil, fmt.Errorf("start project-local PostgreSQL: %w", err)
		}
		dsn = a.localPG.URL()
	}
	if a.DB, err = storage.Open(ctx, dsn); err != nil {
		return nil, err
	}
	if err := migrations.Migrate(ctx, a.DB, log); err != nil {
		return nil, err
	}
	var autovacuum string
	if err := a.DB.QueryRowContext(ctx, `SHOW autovacuum`).Scan(&autovacuum); err == nil && autovacuum != "on" {
		// Twins, timers and the bus tables are rewritten all day long.
		log.Warn("autovacuum is off on this PostgreSQL server: Tower's tables will bloat and slow down; switch it on or vacuum on a schedule")
	}
	bus, err := events.NewPostgresBus(a.DB.DB, log)
	if err != nil {
		return nil, err
	}
	a.Bus = bus

	if cfg.Simulator.Enabled {
		// A dev or simulation node signs its own WeChat Pay notifications
		// with a throwaway platform key pair.
		keys, err := simulator.DevKeys(cfg, true)
		if err != nil {
			return nil, err
		}
		if cfg.Simulator.WechatpayPrivateKey == "" {
			cfg.Simulator.WechatpayPrivateKey = keys[wechatpay.Type]
		}
		a.cfg = cfg
	}
	// Signature freshness is about real time, whatever the simulated clock says.
	sources, err := buildSources(cfg, time.Now)
	if err != nil {
		return nil, err
	}
	storeBodies := cfg.Ingest.StoreBodies == nil || *cfg.Ingest.StoreBodies
	a.committer = ingest.New(a.DB, bus, a.Metrics, log, ingest.Options{
		BatchWait: cfg.Ingest.BatchWait, MaxBatchEvents: cfg.Ingest.MaxBatchEvents, StoreBodies: storeBodies,
	})

	a.Reconcile = reconcileSources(cfg)
	a.reconcile = reconcile.New(a.DB, a.committer, a.Metrics, log, a.now, a.Reconcile)

	orders := storage.NewOrders(a.DB)
	initial, err := orders.Backlog(ctx, a.now())
	if err != nil {
		return nil, err
	}
	hub := live.NewHub(initial, log)
	if a.router, err = events.NewRouter(bus, a.Metrics, log); err != nil {
		return nil, err
	}
	a.Rules = detection.NewRules(a.DB)
	if seeded, err := a.Rules.Seed(ctx, rules.Defaults(), a.now()); err != nil {
		return nil, err
	} else if seeded {
		log.Info("seeded the default rules", "rules", len(rules.Defaults()))
	}
	a.detector = detection.New(a.Metrics, log)
	twins := projection.NewTwins(a.DB, bus, a.Metrics, log, a.now)
	twins.Detect = a.detector
	twins.ReadAhead = 200
	if err := twins.Register(a.router); err != nil {
		return nil, err
	}
	poll := time.Duration(0) // the scheduler's default
	if cfg.Mode == "simulation" {
		// A fast clock makes each real millisecond of polling many
		// simulated ones.
		poll = 20 * time.Millisecond
	}
	a.scheduler = timers.NewScheduler(a.DB, a.fireDeadlines, timers.Options{
		Now: a.now, Logger: log.With("component", "timers"), Poll: poll,
		RetryBackoff: 100 * time.Millisecond, MaxRetryBackoff: 5 * time.Second,
		OnFire: func(lag time.Duration) { a.Metrics.DeadlineLag.Observe(lag.Seconds()) },
	})
	if err := hub.Register(ctx, a.router, bus, a.DB, cfg.NodeName); err != nil {
		return nil, err
	}

	res := &resolvers.Resolver{
		Store: orders, Hub: hub, Metrics: a.Metrics, Now: a.now,
		BacklogPushInterval: cfg.GraphQL.BacklogPushInterval,
		OrderPushInterval:   100 * time.Millisecond,
		DB:                  a.DB, Bus: bus, AlertStore: storage.NewAlerts(a.DB), RuleStore: a.Rules,
		Time: a.Clock, Simulation: cfg.Mode == "simulation",
	}
	hub.Dropped = func(field string) { a.Metrics.SubscriptionDrops.WithLabelValues(field).Inc() }
	a.notifier = newNotifier(a, cfg)
	notifySub, err := bus.Subscriber(notifierGroup)
	if err != nil {
		return nil, err
	}
	a.router.AddConsumerHandler(notifierGroup, events.TopicAlerts, notifySub, a.notifier.Handle)
	res.OnSilence = a.notifier.silence
	res.NotifyStore, res.NotifyFile = a.notifier.store, cfg.Notify
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{source}", &webhooks{
		sources: sources, committer: a.committer, maxBody: cfg.Ingest.MaxBodyBytes,
		m: a.Metrics, log: log.With("component", "webhooks"), now: a.now,
	})
	gql := newGraphQL(res, cfg.GraphQL.AllowedOrigins, cfg.GraphQL.KeepAlive, a.Metrics, log.With("component", "graphql"))
	for _, m := range []string{"GET", "POST", "OPTIONS"} {
		mux.Handle(m+" /graphql", gql)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", a.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Metrics.Registry, promhttp.HandlerOpts{}))
	mux.Handle("GET /", spa())
	a.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return a, nil
}

func buildSources(cfg config.Config, now func() time.Time) (map[string]platforms.Source, error) {
	out := make(map[string]platforms.Source, len(cfg.Sources))
	for _, s := range cfg.Sources {
		p, ok := registry.Lookup(s.Type)
		if !ok {
			return nil, fmt.Errorf("config: source %q: type %q is not available", s.Name, s.Type)
		}
		src, err := p.NewSource(s.Spec(), now)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		out[s.Name] = src
	}
	return out, nil
}

// fireDeadlines evaluates the deadline rules whose timers came due and
// publishes what they raised, in the timers' transaction.
func (a *App) fireDeadlines(ctx context.Context, tx bun.Tx, fired []timers.Fired) error {
	// This transaction holds the timer rows it claimed; the projection
	// locks orders, then may reschedule or cancel those same timers. Give
	// up quickly on a locked order instead of deadlocking with it: the
	// timers are retried a moment later.
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '200ms'`); err != nil {
		return err
	}
	out, err := a.detector.Fire(ctx, tx, fired, a.now())
	if err != nil {
		return err
	}
	return detection.Publish(ctx, a.Bus, tx.Tx, out, true)
}

// startSimulator plays gentle days against this node (dev and simulation
// modes only: Validate refuses it in production).
func (a *App) startSimulator(ctx context.Context, url string) error {
	sc := a.cfg.Simulator
	routes, pull, err := simulator.RoutesFrom(a.cfg, sc.WechatpayPrivateKey)
	if err != nil {
		return err
	}
	log := a.log.With("component", "simulator")
	go func() {
		if err := simulator.Gentle(ctx, url, routes, pull, sc.PullAddr, sc.OrdersPerDay, sc.Speed, log); err != nil {
			log.Error("simulator stopped", "err", err)
		}
	}()
	return nil
}

// reconcileSources builds a pull client for each channel source with a
// pull_url (Validate has checked that its platform has an order list).
func reconcileSources(cfg config.Config) []reconcile.Source {
	var out []reconcile.Source
	for _, s := range cfg.Sources {
		p, _ := registry.Lookup(s.Type)
		c := p.NewClient(s.Spec())
		if c == nil {
			continue
		}
		out = append(out, reconcile.Source{Name: s.Name, Client: c, Every: s.ReconcileEvery, Overlap: s.ReconcileOverlap, Grace: s.ReconcileGrace})
	}
	return out
}

// ReconcileOnce pulls every reconciled source once (tests, `tower reconcile`).
func (a *App) ReconcileOnce(ctx context.Context) ([]reconcile.Result, error) {
	var out []reconcile.Result
	for _, s := range a.Reconcile {
		r, err := a.reconcile.Once(ctx, s)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var problems []string
	if err := a.DB.PingContext(ctx); err != nil {
		problems = append(problems, "database: "+err.Error())
	}
	if err := a.Bus.Ping(ctx); err != nil {
		problems = append(problems, "bus: "+err.Error())
	}
	select {
	case <-a.router.Running():
	default:
		problems = append(problems, "bus: handlers not running")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, p := range problems {
			_, _ = w.Write([]byte(p + "\n"))
		}
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Start listens on the configured address and starts the bus handlers and
// the ingest committer. It returns the URL the server answers on.
func (a *App) Start(ctx context.Context) (string, error) {
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", a.cfg.HTTPAddr, err)
	}
	a.listener = ln
	go a.committer.Run()
	var busCtx context.Context
	busCtx, a.stopBus = context.WithCancel(context.WithoutCancel(ctx))
	a.busDone = make(chan error, 1)
	go func() { a.busDone <- events.RunRouter(busCtx, a.router) }()
	if pg, ok := a.Bus.(*events.PostgresBus); ok && a.cfg.BusRetention > 0 {
		go a.pruneBus(busCtx, pg, a.cfg.BusRetention)
	}
	if err := a.notifier.start(busCtx); err != nil {
		return "", err
	}
	go func() {
		if err := a.scheduler.Run(busCtx); err != nil && busCtx.Err() == nil {
			a.log.Error("deadline timers stopped", "err", err)
		}
	}()
	select {
	case <-a.router.Running():
	case err := <-a.busDone:
		return "", fmt.Errorf("start bus handlers: %w", err)
	case <-time.After(30 * time.Second):
		return "", errors.New("start bus handlers: timed out")
	}
	go func() {
		if err := a.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "err", err)
		}
	}()
	if a.cfg.DebugAddr != "" {
		if err := a.serveDebug(a.cfg.DebugAddr); err != nil {
			return "", err
		}
	}
	url := "http://" + displayAddr(ln.Addr())
	if a.cfg.Simulator.Enabled {
		if err := a.startSimulator(busCtx, url); err != nil {
			return "", err
		}
	}
	// After the simulator: in dev its fakes are what reconciliation pulls.
	if len(a.Reconcile) > 0 {
		go a.reconcile.Run(busCtx)
	}
	return url, nil
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		if ok {
			return fmt.Sprintf("localhost:%d", tcp.Port)
		}
	}
	return addr.String()
}

// Shutdown stops accepting, answers what is in flight (each acknowledged
// webhook is committed first), drains the bus handlers and closes storage.
func (a *App) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() { a.shutdownErr = a.shutdown(ctx) })
	return a.shutdownErr
}

func (a *App) shutdown(ctx context.Context) error {
	var errs []error
	if err := a.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if a.debug != nil {
		_ = a.debug.Close()
	}
	a.committer.Close()
	if a.stopBus != nil {
		a.stopBus()
		if err := <-a.busDone; err != nil {
			errs = append(errs, err)
		}
	}
	a.closeStorage()
	return errors.Join(errs...)
}

func (a *App) closeStorage() {
	if a.DB != nil {
		_ = a.DB.Close()
	}
	if a.localPG != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.localPG.Stop(ctx); err != nil {
			a.log.Error("stop project-local PostgreSQL", "err", err)
		}
	}
}
