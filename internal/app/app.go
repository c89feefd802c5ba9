// Package app is Tower's composition root: it builds every part of a node
// from the configuration, each through its constructor, and starts and
// stops them in order. cmd/tower calls it; nothing else wires components.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/uptrace/bun"

	"github.com/towerhq/tower/dev/pglocal"
	"github.com/towerhq/tower/dev/simulator"
	dfigures "github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/domain/rules"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/graph/directives"
	"github.com/towerhq/tower/graph/generated"
	"github.com/towerhq/tower/graph/resolvers"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/clock"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/detection"
	"github.com/towerhq/tower/internal/figures"
	"github.com/towerhq/tower/internal/incidents"
	"github.com/towerhq/tower/internal/ingest"
	"github.com/towerhq/tower/internal/live"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/notifications/notifier"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/registry"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
	"github.com/towerhq/tower/internal/projection"
	"github.com/towerhq/tower/internal/reconcile"
	"github.com/towerhq/tower/internal/storage"
	"github.com/towerhq/tower/internal/timers"
	"github.com/towerhq/tower/migrations"
	"github.com/towerhq/tower/server"
)

// apiConns is the API pool's size: queries wait for a connection rather
// than take the ones ingest and the bus handlers need.
const apiConns = 10

// Node is a running Tower node.
type Node struct {
	cfg     config.Config
	log     *slog.Logger
	now     func() time.Time
	Clock   clock.Clock
	localPG *pglocal.Server
	DB      *bun.DB
	// apiDB is the API's own pool (see storage.OpenPool).
	apiDB   *bun.DB
	Bus     events.Bus
	Metrics *metrics.Metrics
	// Auth holds the accounts, sessions and API tokens.
	Auth *auth.Service
	// demo are the accounts seeded in dev mode, all with demoPassword.
	demo         []DemoAccount
	demoPassword string

	detector  *detection.Detector
	scheduler *timers.Scheduler
	notifier  *notifier.Notifier
	incidents *incidents.Store
	poison    *events.PoisonQueue
	traffic   *figures.Traffic
	committer *ingest.Committer
	audit     *ingest.Committer
	router    *message.Router
	reconcile *reconcile.Runner
	sources   []reconcile.Source
	server    *server.Server

	committing  bool
	stopBus     context.CancelFunc
	busDone     chan error
	trafficDone chan struct{}

	shutdownOnce sync.Once
	shutdownErr  error
}

// New connects (starting the project-local PostgreSQL when no database URL
// is configured), migrates, and builds every part. Nothing serves until
// Start.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Node, err error) {
	n := &Node{log: log, Metrics: metrics.New(), Clock: clock.Real{}}
	if cfg.Mode == "simulation" {
		sc := clock.NewScaled(nil)
		if cfg.ClockSpeed > 0 {
			if err := sc.SetSpeed(cfg.ClockSpeed); err != nil {
				return nil, fmt.Errorf("clock_speed: %w", err)
			}
		}
		n.Clock = sc
	}
	n.now = n.Clock.Now
	defer func() {
		if err != nil {
			n.closeStorage()
		}
	}()
	var dsn string
	if n.DB, dsn, n.localPG, err = openDatabase(ctx, cfg, log); err != nil {
		return nil, err
	}
	if n.apiDB, err = storage.OpenPool(ctx, dsn, storage.Pool{
		Name: "tower-api", MaxConns: apiConns, StatementTimeout: cfg.GraphQL.StatementTimeout,
	}); err != nil {
		return nil, err
	}
	if n.Bus, err = openBus(ctx, cfg, n.DB, log); err != nil {
		return nil, err
	}
	if cfg.Mode != "production" {
		// With or without the simulator: the example's WeChat Pay source
		// needs its (throwaway) platform key to start.
		if cfg, err = ensureDevKeys(cfg); err != nil {
			return nil, err
		}
	}
	n.cfg = cfg

	// Signature freshness is about real time, whatever the simulated clock says.
	sources, err := buildSources(cfg, time.Now)
	if err != nil {
		return nil, err
	}
	storeBodies := cfg.Ingest.StoreBodies == nil || *cfg.Ingest.StoreBodies
	n.committer = ingest.New(n.DB, n.Bus, n.Metrics, log, ingest.Options{
		BatchWait: cfg.Ingest.BatchWait, MaxBatchEvents: cfg.Ingest.MaxBatchEvents, StoreBodies: storeBodies,
	})
	// Refused deliveries commit on their own, one worker: whatever
	// anonymous senders send never shares a transaction with (or waits
	// behind) verified traffic.
	n.audit = ingest.New(n.DB, n.Bus, n.Metrics, log.With("component", "refused-audit"), ingest.Options{
		BatchWait: cfg.Ingest.BatchWait, MaxBatchEvents: 100, StoreBodies: true, Workers: 1,
	})
	n.sources = reconcileSources(cfg)
	n.reconcile = reconcile.New(n.DB, n.committer, n.Metrics, log, n.now, n.sources)

	if n.router, err = events.NewRouter(n.Bus, n.Metrics, log); err != nil {
		return nil, err
	}
	ruleStore := detection.NewRules(n.DB)
	if seeded, err := ruleStore.Seed(ctx, rules.Defaults(), n.now()); err != nil {
		return nil, err
	} else if seeded {
		log.Info("seeded the default rules", "rules", len(rules.Defaults()))
	}
	n.detector = detection.New(n.Metrics, log, projection.NewTwinSource())
	figureSettings, err := cfg.Figures.Settings()
	if err != nil {
		return nil, fmt.Errorf("config: figures: %w", err)
	}
	rollups := figures.New(figureSettings)
	// Before the projection runs here: rollups of other settings (or none
	// yet, beside existing orders) are rebuilt from the twins.
	if _, err := rollups.Ensure(ctx, n.DB, log, n.now()); err != nil {
		return nil, err
	}
	twins := projection.NewTwins(n.DB, n.Bus, n.Metrics, log, n.now, projection.Options{Detect: n.detector, ReadAhead: 200, Figures: rollups})
	if err := twins.Register(n.router); err != nil {
		return nil, err
	}
	poll := time.Duration(0) // the scheduler's default
	if cfg.Mode == "simulation" {
		// A fast clock makes each real millisecond of polling many
		// simulated ones.
		poll = 20 * time.Millisecond
	}
	n.scheduler = timers.NewScheduler(n.DB, n.fireDeadlines, timers.Options{
		Now: n.now, Logger: log.With("component", "timers"), Poll: poll,
		RetryBackoff: 100 * time.Millisecond, MaxRetryBackoff: 5 * time.Second,
		OnFire: func(lag time.Duration) { n.Metrics.DeadlineLag.Observe(lag.Seconds()) },
	})

	orders := storage.NewOrders(n.apiDB)
	initial, err := orders.Backlog(ctx, n.now())
	if err != nil {
		return nil, err
	}
	hub := live.NewHub(initial, log, live.Options{
		BacklogBudget: cfg.GraphQL.BacklogPushBudget,
		Dropped:       func(field string) { n.Metrics.SubscriptionDrops.WithLabelValues(field).Inc() },
	})
	if err := hub.Register(ctx, n.router, n.Bus, cfg.NodeName); err != nil {
		return nil, err
	}

	n.Auth = auth.New(n.apiDB, auth.Options{
		SessionTTL: cfg.Auth.SessionTTL, SessionIdle: cfg.Auth.SessionIdle, Logger: log.With("component", "auth"),
		Failed: func(reason string) { n.Metrics.Logins.WithLabelValues(reason).Inc() },
	})
	switch {
	case cfg.Mode == "production":
		if err := checkProductionAccounts(ctx, n.Auth); err != nil {
			return nil, err
		}
	case cfg.Auth.Demo(cfg.Mode):
		if n.demo, n.demoPassword, err = seedDemo(ctx, n.Auth, cfg.DataDir); err != nil {
			return nil, err
		}
	}
	// Every root field must say who may use it, or the node does not start.
	policy, err := directives.FromSchema(generated.NewExecutableSchema(generated.Config{}).Schema())
	if err != nil {
		return nil, err
	}
	metricsNets, _ := config.ParsePrefixes(cfg.Auth.MetricsNetworks) // checked by Validate
	proxies, _ := config.ParsePrefixes(cfg.Auth.TrustedProxies)

	n.notifier = notifier.New(notifier.Options{
		DB: n.DB, File: cfg.Notify, BaseURL: cfg.PublicURL, Metrics: n.Metrics,
		Logger: log.With("component", "notify"), Now: n.now,
	})
	notifySub, err := n.Bus.Subscriber(notifier.Group)
	if err != nil {
		return nil, err
	}
	n.router.AddConsumerHandler(notifier.Group, events.TopicAlerts, notifySub, n.notifier.Handle)
	// Alerts sharing a cause become incidents; the robots hear of each
	// incident once (opened, resolved), the browsers of every change.
	n.incidents = incidents.New(incidents.Options{DB: n.DB, Bus: n.Bus, Config: cfg.Incidents.Config(), Now: n.now,
		Logger: log, CheckEvery: cfg.Incidents.CheckEvery})
	incidentSub, err := n.Bus.Subscriber(incidents.Group)
	if err != nil {
		return nil, err
	}
	n.router.AddConsumerHandler(incidents.Group, events.TopicAlerts, incidentSub, n.incidents.Handle)
	incidentNotifySub, err := n.Bus.Subscriber(notifier.IncidentGroup)
	if err != nil {
		return nil, err
	}
	n.router.AddConsumerHandler(notifier.IncidentGroup, events.TopicIncidents, incidentNotifySub, n.notifier.HandleIncidents)
	incidentFeed := incidents.NewFeed(func() { n.Metrics.SubscriptionDrops.WithLabelValues("incidentChanged").Inc() })
	if err := incidentFeed.Register(ctx, n.router, n.Bus, n.DB, cfg.NodeName); err != nil {
		return nil, err
	}
	// Parked messages of the handlers whose consumer group every node
	// shares can be retried; the live fan-out's are only discarded. Real
	// time, whatever the simulated clock says: this is the IT view's audit.
	n.poison = events.NewPoisonQueue(n.apiDB, n.Bus, n.Metrics, log, time.Now, map[string]string{
		projection.HandlerName: projection.ConsumerGroup,
		notifier.Group:         notifier.Group,
		incidents.Group:        incidents.Group,
		notifier.IncidentGroup: notifier.IncidentGroup,
	})
	if err := n.poison.RegisterRedrive(n.router); err != nil {
		return nil, err
	}

	apiRules := detection.NewRules(n.apiDB)
	figureReader := figures.NewReader(n.apiDB, figures.ReaderOptions{
		Settings: figureSettings, MinuteRetention: cfg.Figures.MinuteRetention,
		Goals: cfg.Figures.Health.Goals(), HealthWindow: cfg.Figures.Health.Window, BacklogSLA: cfg.Figures.Health.BacklogSLA,
		ExceptionTags: exceptionTags(apiRules),
		// Subscribers of one scope share a computation.
		CacheFor: cfg.Figures.PushInterval / 2,
	})
	// Interface traffic on the wall clock, like the poison queue's audit.
	n.traffic = figures.NewTraffic(n.DB, n.Metrics.Registry, time.Now)
	system := figures.SystemOptions{Traffic: n.traffic, Gatherer: n.Metrics.Registry, Groups: durableGroups}
	switch b := n.Bus.(type) {
	case *events.PostgresBus:
		system.Unread = b.Unread
	case *events.NATSBus:
		system.Unread = b.Unread
	}
	res := &resolvers.Resolver{
		Store: orders, Hub: hub, Metrics: n.Metrics, Now: n.now,
		BacklogPushInterval: cfg.GraphQL.BacklogPushInterval,
		OrderPushInterval:   100 * time.Millisecond,
		DB:                  n.apiDB, Bus: n.Bus, AlertStore: storage.NewAlerts(n.apiDB), RuleStore: apiRules,
		Time: n.Clock, Simulation: cfg.Mode == "simulation",
		NotifyStore: n.notifier.Store(), NotifyFile: cfg.Notify,
		Auth: n.Auth, Policy: policy,
		Checks: healthChecks(n.readiness()), Sources: sourceList(cfg, n.sources),
		Poison:        n.poison,
		IncidentStore: n.incidents, IncidentFeed: incidentFeed,
		Figures: figureReader, FigurePushInterval: cfg.Figures.PushInterval, System: system, Log: log,
	}
	n.server = server.New(server.Options{
		Addr: cfg.HTTPAddr, DebugAddr: cfg.DebugAddr,
		Sources: sources, Ingest: n.committer, MaxBody: cfg.Ingest.MaxBodyBytes,
		Audit: n.audit, Refusals: &server.Refusals{PerSecond: cfg.Ingest.RefusedPerSecond, Burst: cfg.Ingest.RefusedBurst},
		Resolver: res, AllowedOrigins: cfg.GraphQL.AllowedOrigins, KeepAlive: cfg.GraphQL.KeepAlive,
		Ready:   n.readiness(),
		Metrics: n.Metrics, Logger: log, Now: n.now,
		Auth: server.Auth{
			Service: n.Auth, Policy: policy, SecureCookies: cfg.SecureCookies(),
			MetricsNetworks: metricsNets, TrustedProxies: proxies, RevalidateEvery: cfg.Auth.RevalidateEvery,
		},
	})
	return n, nil
}

// openDatabase connects to the configured database, or starts the
// project-local PostgreSQL when none is configured, and migrates it.
func openDatabase(ctx context.Context, cfg config.Config, log *slog.Logger) (*bun.DB, string, *pglocal.Server, error) {
	var local *pglocal.Server
	dsn := cfg.DatabaseURL
	if dsn == "" {
		var err error
		if local, err = pglocal.Start(ctx, pglocal.Options{Dir: cfg.DataDir + "/postgres", Logger: log}); err != nil {
			return nil, "", nil, fmt.Errorf("start project-local PostgreSQL: %w", err)
		}
		dsn = local.URL()
	}
	stop := func() {
		if local != nil {
			_ = local.Stop(context.Background())
		}
	}
	db, err := storage.Open(ctx, dsn)
	if err != nil {
		stop()
		return nil, "", nil, err
	}
	if err := migrations.Migrate(ctx, db, log); err != nil {
		_ = db.Close()
		stop()
		return nil, "", nil, err
	}
	var autovacuum string
	if err := db.QueryRowContext(ctx, `SHOW autovacuum`).Scan(&autovacuum); err == nil && autovacuum != "on" {
		// Twins, timers and the bus tables are rewritten all day long.
		log.Warn("autovacuum is off on this PostgreSQL server: Tower's tables will bloat and slow down; switch it on or vacuum on a schedule")
	}
	return db, dsn, local, nil
}

// openBus builds the configured bus backend on db.
func openBus(ctx context.Context, cfg config.Config, db *bun.DB, log *slog.Logger) (events.Bus, error) {
	if cfg.Bus != "nats" {
		return events.NewPostgresBus(db.DB, log)
	}
	b, err := events.NewNATSBus(ctx, db.DB, log, events.NATSOptions{
		URL: cfg.NATSURL, Prefix: cfg.NATSPrefix, Name: cfg.NodeName,
		AckWait: cfg.NATSAckWait, Retention: cfg.BusRetention,
	})
	if err != nil {
		return nil, err
	}
	log.Info("bus: NATS JetStream", "nats_prefix", cfg.NATSPrefix)
	return b, nil
}

// ensureDevKeys gives a dev or simulation node throwaway platform keys
// (WeChat Pay's) to sign its own notifications with.
func ensureDevKeys(cfg config.Config) (config.Config, error) {
	keys, err := simulator.DevKeys(cfg, true)
	if err != nil {
		return cfg, err
	}
	if cfg.Simulator.WechatpayPrivateKey == "" {
		cfg.Simulator.WechatpayPrivateKey = keys[wechatpay.Type]
	}
	return cfg, nil
}

// exceptionTags gives the tags that make an order abnormal, from the rules
// in force, read at most every few seconds: rules change rarely.
func exceptionTags(rs *detection.Rules) func(context.Context) ([]string, error) {
	var (
		mu   sync.Mutex
		tags []string
		at   time.Time
	)
	return func(ctx context.Context) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		if !at.IsZero() && time.Since(at) < 5*time.Second {
			return tags, nil
		}
		recs, err := rs.List(ctx)
		if err != nil {
			return nil, err
		}
		list := make([]rules.Rule, 0, len(recs))
		for _, r := range recs {
			list = append(list, r.Rule)
		}
		tags, at = dfigures.ExceptionTags(list), time.Now()
		return tags, nil
	}
}

// readiness is what /readyz checks: storage, bus, and the bus handlers.
func (n *Node) readiness() []server.Check {
	return []server.Check{
		{Name: "database", Check: n.DB.PingContext},
		{Name: "bus", Check: n.Bus.Ping},
		{Name: "bus", Check: func(context.Context) error {
			select {
			case <-n.router.Running():
				return nil
			default:
				return errors.New("handlers not running")
			}
		}},
	}
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
func (n *Node) fireDeadlines(ctx context.Context, tx bun.Tx, fired []timers.Fired) error {
	// This transaction holds the timer rows it claimed; the projection
	// locks orders, then may reschedule or cancel those same timers. Give
	// up quickly on a locked order instead of deadlocking with it: the
	// timers are retried a moment later.
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '200ms'`); err != nil {
		return err
	}
	out, err := n.detector.Fire(ctx, tx, fired, n.now())
	if err != nil {
		return err
	}
	return detection.Publish(ctx, n.Bus, tx.Tx, out, true)
}

// startSimulator plays gentle days against this node (dev and simulation
// modes only: Validate refuses it in production).
func (n *Node) startSimulator(ctx context.Context, url string) error {
	sc := n.cfg.Simulator
	routes, pull, err := simulator.RoutesFrom(n.cfg, sc.WechatpayPrivateKey)
	if err != nil {
		return err
	}
	log := n.log.With("component", "simulator")
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
			continue // no pull_url: pushes only
		}
		out = append(out, reconcile.Source{Name: s.Name, Client: c, Every: s.ReconcileEvery, Overlap: s.ReconcileOverlap, Grace: s.ReconcileGrace})
	}
	return out
}

// ReconcileOnce pulls every reconciled source once (tests use it to
// reconcile now rather than on the schedule).
func (n *Node) ReconcileOnce(ctx context.Context) ([]reconcile.Result, error) {
	var out []reconcile.Result
	for _, s := range n.sources {
		r, err := n.reconcile.Once(ctx, s)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Start listens, starts the bus handlers, the ingest committer, the
// notifier and the deadline timers, then serves. It returns the URL the
// server answers on.
func (n *Node) Start(ctx context.Context) (string, error) {
	url, err := n.server.Listen()
	if err != nil {
		return "", err
	}
	go n.committer.Run()
	go n.audit.Run()
	n.committing = true
	var busCtx context.Context
	busCtx, n.stopBus = context.WithCancel(context.WithoutCancel(ctx))
	n.busDone = make(chan error, 1)
	go func() { n.busDone <- events.RunRouter(busCtx, n.router) }()
	go n.prune(busCtx)
	n.trafficDone = make(chan struct{})
	go func() {
		defer close(n.trafficDone)
		n.traffic.Run(busCtx, trafficFlushEvery, func(err error) { n.log.Warn("interface traffic: flush", "err", err) })
	}()
	go n.poison.KeepGauge(busCtx, 30*time.Second)
	go n.incidents.Run(busCtx)
	if err := n.notifier.Start(busCtx); err != nil {
		return "", err
	}
	go func() {
		if err := n.scheduler.Run(busCtx); err != nil && busCtx.Err() == nil {
			n.log.Error("deadline timers stopped", "err", err)
		}
	}()
	select {
	case <-n.router.Running():
	case err := <-n.busDone:
		return "", fmt.Errorf("start bus handlers: %w", err)
	case <-time.After(30 * time.Second):
		return "", errors.New("start bus handlers: timed out")
	}
	n.server.Serve()
	if n.cfg.Simulator.Enabled {
		if err := n.startSimulator(busCtx, url); err != nil {
			return "", err
		}
	}
	// After the simulator: in dev its fakes are what reconciliation pulls.
	if len(n.sources) > 0 {
		go n.reconcile.Run(busCtx)
	}
	return url, nil
}

// Shutdown stops accepting, answers what is in flight (each acknowledged
// webhook is committed first), drains the bus handlers and closes storage.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutdownOnce.Do(func() { n.shutdownErr = n.shutdown(ctx) })
	return n.shutdownErr
}

func (n *Node) shutdown(ctx context.Context) error {
	var errs []error
	if err := n.server.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if n.committing { // Close waits for Run: a node that failed to listen never ran them
		n.committer.Close()
		n.audit.Close()
	}
	if n.stopBus != nil {
		n.stopBus()
		if err := <-n.busDone; err != nil {
			errs = append(errs, err)
		}
		// A robot message under way is recorded before storage closes, and
		// the last traffic counts.
		n.notifier.Wait()
		<-n.trafficDone
	}
	n.closeStorage()
	return errors.Join(errs...)
}

func (n *Node) closeStorage() {
	// The bus first: its forwarder reads the outbox.
	if b, ok := n.Bus.(interface{ Close() error }); ok {
		if err := b.Close(); err != nil {
			n.log.Warn("close the bus", "err", err)
		}
	}
	if n.apiDB != nil {
		_ = n.apiDB.Close()
	}
	if n.DB != nil {
		_ = n.DB.Close()
	}
	if n.localPG != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.localPG.Stop(ctx); err != nil {
			n.log.Error("stop project-local PostgreSQL", "err", err)
		}
	}
}

// healthChecks are the readiness checks, for systemHealth.
func healthChecks(cs []server.Check) []resolvers.HealthCheck {
	out := make([]resolvers.HealthCheck, len(cs))
	for i, c := range cs {
		out[i] = resolvers.HealthCheck{Name: c.Name, Check: c.Check}
	}
	return out
}

// sourceList names the configured sources and which are reconciled.
func sourceList(cfg config.Config, pulled []reconcile.Source) []resolvers.Source {
	out := make([]resolvers.Source, 0, len(cfg.Sources))
	for _, s := range cfg.Sources {
		rs := resolvers.Source{Name: s.Name, Type: s.Type}
		if p, ok := registry.Lookup(s.Type); ok {
			rs.Channel = p.Channel(s.Spec())
		}
		for _, p := range pulled {
			rs.Reconciled = rs.Reconciled || p.Name == s.Name
		}
		out = append(out, rs)
	}
	return out
}
