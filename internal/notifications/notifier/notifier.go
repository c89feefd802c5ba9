// Package notifier feeds alerts from the bus to the group robots (WeCom,
// DingTalk): it builds the dispatcher from the configuration file's and the
// API's robots, reloads it when the API changes them, and passes silences on.
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
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/notifications"
	"github.com/towerhq/tower/internal/notifications/robot"
	"github.com/towerhq/tower/internal/storage"
)

// Group is the consumer group of the alerts topic that sends robot
// messages: every alert is handled by one node.
const Group = "notifier"

// Options is what a Notifier needs.
type Options struct {
	DB *bun.DB
	// File holds the robots and routes of the configuration file.
	File config.Notify
	// BaseURL is the public URL alert links point to.
	BaseURL string
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// Now is the server's clock (simulated in simulation mode), used for
	// silences; robots count their rate limits in real time.
	Now func() time.Time
}

// Notifier feeds alerts from the bus to the robots. One node at a time
// consumes the alerts topic (a shared consumer group), so each alert is
// notified once. Robots come from the configuration file and from the
// API; a change through the API reloads the dispatcher on the next alert.
type Notifier struct {
	db      *bun.DB
	file    config.Notify
	store   *storage.NotifyConfig
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
}

// New makes a notifier; Start loads its robots.
func New(o Options) *Notifier {
	n := &Notifier{db: o.DB, file: o.File, store: storage.NewNotifyConfig(o.DB), baseURL: o.BaseURL,
		m: o.Metrics, log: o.Logger, now: o.Now}
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
	chCfg := append([]config.NotifyChannel{}, n.file.Channels...)
	routeCfg := append([]config.NotifyRoute{}, n.file.Routes...)
	dbChans, err := n.store.Channels(ctx)
	if err != nil {
		return nil, err
	}
	dbRoutes, err := n.store.Routes(ctx)
	if err != nil {
		return nil, err
	}
	chCfg = append(chCfg, dbChans...)
	for _, r := range dbRoutes {
		routeCfg = append(routeCfg, r.Route)
	}
	var chans []notifications.Channel
	names := map[string]bool{}
	n.invalid.Reset()
	for _, c := range chCfg {
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
		// Robots count their rate limits in real time, whatever a
		// simulation does to the server's clock.
		Now: time.Now, Logger: n.log,
		OnSent: func(channel string, firstRaised time.Time, count int) {
			n.m.NotificationsSent.WithLabelValues(channel, "sent").Add(float64(count))
			// Raised on the server's clock, sent on the wall clock: equal
			// outside simulation mode.
			n.m.NotifyLatency.Observe(time.Since(firstRaised).Seconds())
		},
	}
	if err := notifications.Validate(chans, routes, opts); err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	d := notifications.NewDispatcher(n.db, chans, routes, opts)
	ss, err := storage.NewAlerts(n.db).Silences(ctx, n.now())
	if err != nil {
		return nil, err
	}
	for _, s := range ss {
		d.Silence(notifications.Silence{Rule: s.Rule, Scope: s.Scope, Until: s.Until})
	}
	return d, nil
}

// current returns the dispatcher, reloading it when the API changed the
// robots since.
func (n *Notifier) current(ctx context.Context) (*notifications.Dispatcher, error) {
	rev, err := n.store.Revision(ctx)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.loaded && rev == n.rev {
		return n.d, nil
	}
	d, err := n.build(ctx)
	if err != nil {
		return nil, err
	}
	if n.stop != nil {
		n.stop() // the old one sends what it holds, then exits
	}
	n.d, n.rev, n.loaded, n.stop = d, rev, true, nil
	if d != nil {
		runCtx, cancel := context.WithCancel(n.runCtx)
		n.stop = cancel
		go func() {
			if err := d.Run(runCtx); err != nil && runCtx.Err() == nil {
				n.log.Error("notifier stopped", "err", err)
			}
		}()
	}
	n.log.Info("notification robots loaded", "revision", rev, "active", d != nil)
	return d, nil
}

// Handle is the bus handler for events.TopicAlerts.
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
	for _, a := range ch.Alerts {
		switch {
		case a.Raised:
			d.Notify(msg.Context(), notifications.Alert{
				ID: a.ID, Rule: a.Rule, Kind: a.Kind, Severity: a.Severity, Order: a.Channel + "/" + a.OrderNo,
				Scope: a.Scope, Summary: a.Summary, Link: n.baseURL + "/orders/" + a.Channel + "/" + a.OrderNo, RaisedAt: a.RaisedAt,
			})
		case a.State == alert.Acknowledged.String() || a.State == alert.Resolved.String():
			d.Acknowledged(a.ID)
		}
	}
	return nil
}

// Start remembers the context dispatchers run in and loads them.
func (n *Notifier) Start(ctx context.Context) error {
	n.mu.Lock()
	n.runCtx = ctx
	n.mu.Unlock()
	_, err := n.current(ctx)
	return err
}

// Silence passes a new silence to the running dispatcher.
func (n *Notifier) Silence(s storage.Silence) {
	n.mu.Lock()
	d := n.d
	n.mu.Unlock()
	if d != nil {
		d.Silence(notifications.Silence{Rule: s.Rule, Scope: s.Scope, Until: s.Until})
	}
}
