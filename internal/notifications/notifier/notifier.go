// Package notifier feeds alerts from the bus to the group robots (WeCom,
// DingTalk): it builds the dispatcher from the configuration file's and the
// API's robots, and builds it again when the API changes them. The bus
// handler writes each alert to the notification outbox before the message
// is acknowledged; the dispatcher's sender, on every node, does the rest
// from the table (see package notifications).
package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/alert"
	"github.com/towerhq/tower/domain/incident"
	"github.com/towerhq/tower/domain/notify"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/notifications"
	"github.com/towerhq/tower/internal/notifications/robot"
	"github.com/towerhq/tower/internal/storage"
)

// Group is the consumer group of the alerts topic that takes alerts into
// the outbox: every alert is handled by one node.
const Group = "notifier"

// IncidentGroup is the consumer group of the incidents topic that takes
// incident messages (opened, resolved) into the outbox.
const IncidentGroup = "notifier-incidents"

// reloadEvery is how often a node checks whether the API changed the
// robots: another node may have taken every alert message since.
const reloadEvery = 2 * time.Second

// pruneEvery is how often a node prunes the notification outbox; nodes
// pruning at once only find less to do.
const pruneEvery = time.Hour

// Options is what a Notifier needs.
type Options struct {
	DB *bun.DB
	// File holds the robots and routes of the configuration file.
	File config.Notify
	// BaseURL is the public URL alert links point to.
	BaseURL string
	// Metrics may be nil (tests).
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// Now is the server's clock (simulated in simulation mode), used for
	// silences; robots count their rate limits in real time.
	Now func() time.Time
}

// Notifier takes alerts from the bus into the outbox and runs the
// dispatcher that sends them. Robots come from the configuration file and
// from the API; one the robot client refuses is left out (logged, and
// counted in tower_notification_channels_invalid) rather than stopping
// the others or the node.
type Notifier struct {
	db      *bun.DB
	file    config.Notify
	store   *storage.NotifyConfig
	alerts  *storage.Alerts
	baseURL string
	m       *metrics.Metrics
	invalid *prometheus.GaugeVec
	log     *slog.Logger
	now     func() time.Time

	mu     sync.Mutex
	d      *notifications.Dispatcher
	stop   context.CancelFunc
	rev    int64
	loaded bool
	runCtx context.Context
	wg     sync.WaitGroup
}

// New makes a notifier; Start loads its robots.
func New(o Options) *Notifier {
	n := &Notifier{db: o.DB, file: o.File, store: storage.NewNotifyConfig(o.DB), alerts: storage.NewAlerts(o.DB),
		baseURL: o.BaseURL, m: o.Metrics, log: o.Logger, now: o.Now}
	if n.log == nil {
		n.log = slog.Default()
	}
	if n.now == nil {
		n.now = time.Now
	}
	n.invalid = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tower_notification_channels_invalid",
		Help: "Robot channels left out of the notifier because their robot client refuses their configuration (1 per channel).",
	}, []string{"channel"})
	if o.Metrics != nil {
		o.Metrics.Registry.MustRegister(n.invalid)
	}
	return n
}

// Store holds the robots and routes configured through the API.
func (n *Notifier) Store() *storage.NotifyConfig { return n.store }

// build makes a dispatcher for the file's and the API's robots, or nil
// when there is none it can use. A robot its client refuses (a channel
// saved before the API checked them, a bad file entry) is left out, logged
// and counted in tower_notification_channels_invalid, rather than
// stopping every alert and the node's start.
func (n *Notifier) build(ctx context.Context) (*notifications.Dispatcher, error) {
	dbChans, err := n.store.Channels(ctx)
	if err != nil {
		return nil, fmt.Errorf("notifier: %w", err)
	}
	dbRoutes, err := n.store.Routes(ctx)
	if err != nil {
		return nil, fmt.Errorf("notifier: %w", err)
	}
	var chans []notifications.Channel
	names := map[string]bool{}
	n.invalid.Reset()
	for _, c := range append(append([]notify.Channel{}, n.file.Channels...), dbChans...) {
		ch, err := robot.New(c)
		if err == nil && names[c.Name] {
			err = errors.New("another channel has this name")
		}
		if err != nil {
			// A bad robot fails only itself: the others are built.
			n.invalid.WithLabelValues(c.Name).Set(1)
			n.log.Error("notification channel left out: its robot cannot be used", "channel", c.Name, "type", c.Type, "err", err)
			continue
		}
		names[c.Name] = true
		chans = append(chans, ch)
	}
	if len(chans) == 0 {
		return nil, nil
	}
	routeCfg := append([]notify.Route{}, n.file.Routes...)
	for _, r := range dbRoutes {
		routeCfg = append(routeCfg, r.Route)
	}
	var routes []notifications.Route
	for _, rc := range routeCfg {
		r := notifications.Route{Channel: rc.Channel, MinSeverity: rc.MinSeverity, Kinds: rc.Kinds, Scopes: rc.Scopes}
		if err := notifications.ValidateRoute(r, names); err != nil {
			n.log.Warn("notification route left out", "channel", rc.Channel, "err", err)
			continue
		}
		routes = append(routes, r)
	}
	if len(routeCfg) == 0 {
		// No routes at all: every robot gets warnings and above.
		for _, c := range chans {
			routes = append(routes, notifications.Route{Channel: c.Name(), MinSeverity: notifications.SeverityWarning})
		}
	}
	escalateTo := n.file.EscalateTo
	if escalateTo != "" && !names[escalateTo] {
		n.log.Error("notification escalations off: their channel cannot be used", "channel", escalateTo)
		escalateTo = ""
	}
	opts := notifications.Options{
		GroupWindow: n.file.GroupWindow, EscalateAfter: n.file.EscalateAfter, EscalateTo: escalateTo,
		Silences: n.silences,
		// Robots count their rate limits in real time, whatever a
		// simulation does to the server's clock.
		Now: time.Now, Logger: n.log,
		OnSent: func(channel string, firstRaised time.Time, count int) {
			if n.m == nil {
				return
			}
			n.m.NotificationsSent.WithLabelValues(channel, "sent").Add(float64(count))
			// Raised on the server's clock, sent on the wall clock: equal
			// outside simulation mode.
			n.m.NotifyLatency.Observe(time.Since(firstRaised).Seconds())
		},
	}
	if err := notifications.Validate(chans, routes, opts); err != nil {
		return nil, fmt.Errorf("notifier: %w", err)
	}
	return notifications.NewDispatcher(n.db, chans, routes, opts), nil
}

// silences are those in the table now, by the server's clock: saved
// through any node's API, they hold for this node's sends.
func (n *Notifier) silences(ctx context.Context) ([]notifications.Silence, error) {
	ss, err := n.alerts.Silences(ctx, n.now())
	if err != nil {
		return nil, fmt.Errorf("notifier: silences: %w", err)
	}
	out := make([]notifications.Silence, len(ss))
	for i, s := range ss {
		out[i] = notifications.Silence{Rule: s.Rule, Scope: s.Scope, Until: s.Until}
	}
	return out, nil
}

// current returns the dispatcher, building a new one when the API changed
// the robots since. The old one stops after its message under way; what
// it had not sent waits in the outbox for the new one.
func (n *Notifier) current(ctx context.Context) (*notifications.Dispatcher, error) {
	rev, err := n.store.Revision(ctx)
	if err != nil {
		return nil, fmt.Errorf("notifier: robots revision: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.loaded && rev == n.rev {
		n.runLocked()
		return n.d, nil
	}
	d, err := n.build(ctx)
	if err != nil {
		return nil, err
	}
	if n.stop != nil {
		n.stop()
	}
	n.d, n.rev, n.loaded, n.stop = d, rev, true, nil
	n.runLocked()
	n.log.Info("notification robots loaded", "revision", rev, "active", d != nil)
	return d, nil
}

// runLocked runs the current dispatcher once Start has given a context
// (an alert may arrive before it does); n.mu is held.
func (n *Notifier) runLocked() {
	if n.d == nil || n.stop != nil || n.runCtx == nil {
		return
	}
	d := n.d
	runCtx, cancel := context.WithCancel(n.runCtx)
	n.stop = cancel
	n.wg.Go(func() {
		if err := d.Run(runCtx); err != nil && runCtx.Err() == nil {
			n.log.Error("notifier stopped", "err", err)
		}
	})
}

// Handle is the bus handler for events.TopicAlerts.
//
// Exactly once: the alerts are written to the outbox in a transaction of
// their own that commits before Handle returns, so before the message is
// acknowledged. A crash in between redelivers the message, and the rows it
// would add are there already (unique per alert, channel and purpose):
// nothing is added twice, nothing is lost. Writing in internal/alerts'
// transaction instead would make internal/alerts know the routes; the bus
// message is already that transaction's outbox.
func (n *Notifier) Handle(msg *message.Message) error {
	var ch events.AlertChanges
	if err := json.Unmarshal(msg.Payload, &ch); err != nil {
		return fmt.Errorf("%w: decode %s message %s: %v", events.ErrPermanent, events.TopicAlerts, msg.UUID, err)
	}
	d, err := n.current(msg.Context())
	if err != nil {
		return err
	}
	if d == nil {
		return nil // no robot configured
	}
	var raised []notifications.Alert
	var closed []int64
	for _, a := range ch.Alerts {
		switch {
		case a.Raised:
			raised = append(raised, notifications.Alert{
				ID: a.ID, Rule: a.Rule, Kind: a.Kind, Severity: a.Severity, Order: a.Channel + "/" + a.OrderNo,
				Scope: a.Scope, Summary: a.Summary, Link: n.baseURL + "/orders/" + a.Channel + "/" + a.OrderNo, RaisedAt: a.RaisedAt,
			})
		case a.Severity == notifications.SeverityCritical && (a.State == alert.Acknowledged.String() || a.State == alert.Resolved.String()):
			// Only critical alerts escalate.
			closed = append(closed, a.ID)
		}
	}
	if err := d.Notify(msg.Context(), raised...); err != nil {
		return err
	}
	return d.Acknowledged(msg.Context(), closed...)
}

// HandleIncidents is the bus handler for events.TopicIncidents: an
// incident opened or resolved becomes one robot message per channel (its
// member alerts are folded when their turn to be sent comes). Exactly once
// as Handle is: the rows are unique per incident, event and channel.
func (n *Notifier) HandleIncidents(msg *message.Message) error {
	var ch events.IncidentChanges
	if err := json.Unmarshal(msg.Payload, &ch); err != nil {
		return fmt.Errorf("%w: decode %s message %s: %v", events.ErrPermanent, events.TopicIncidents, msg.UUID, err)
	}
	var is []notifications.Incident
	for _, in := range ch.Incidents {
		if in.Event != events.IncidentOpened && in.Event != events.IncidentResolved {
			continue
		}
		scope := in.Warehouse
		if scope == "" {
			scope = in.Key
		}
		is = append(is, notifications.Incident{
			ID: in.ID, Event: in.Event, Cause: in.Cause, Key: in.Key, Scope: scope, Severity: in.Severity,
			Start: in.StartedAt, LastSeen: in.LastSeenAt, Members: in.Members, Orders: in.Orders, Money: in.Money,
			Shops: in.Shops, Channels: in.Channels, ResolvedBy: in.ResolvedBy, Kinds: incident.MemberKinds(in.Cause),
		})
	}
	if len(is) == 0 {
		return nil
	}
	d, err := n.current(msg.Context())
	if err != nil {
		return err
	}
	if d == nil {
		return nil // no robot configured
	}
	return d.NotifyIncidents(msg.Context(), is...)
}

// Start loads the robots and runs the dispatcher in ctx, checking every
// few seconds whether the API changed the robots, and pruning the outbox
// every hour.
func (n *Notifier) Start(ctx context.Context) error {
	n.mu.Lock()
	n.runCtx = ctx
	n.mu.Unlock()
	if _, err := n.current(ctx); err != nil {
		return err
	}
	n.wg.Go(func() {
		t := time.NewTicker(reloadEvery)
		defer t.Stop()
		pruned := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			d, err := n.current(ctx)
			if err != nil {
				if ctx.Err() == nil {
					n.log.Error("notifier: reload robots", "err", err)
				}
				continue
			}
			if d != nil && time.Since(pruned) >= pruneEvery {
				pruned = time.Now()
				d.Prune(ctx)
			}
		}
	})
	return nil
}

// Wait returns once Start's context has ended and the dispatcher has
// recorded the message it was sending.
func (n *Notifier) Wait() { n.wg.Wait() }
