package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/towerhq/tower/config"
	"github.com/towerhq/tower/detect"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/notifications"
	"github.com/towerhq/tower/notifications/dingtalk"
	"github.com/towerhq/tower/notifications/wecom"
	"github.com/towerhq/tower/storage"
)

// notifier feeds alerts from the bus to the robots. One node at a time
// consumes the alerts topic (a shared consumer group), so each alert is
// notified once.
type notifier struct {
	d       *notifications.Dispatcher
	baseURL string
	app     *App
}

func newNotifier(a *App, cfg config.Config) (*notifier, error) {
	if len(cfg.Notify.Channels) == 0 {
		return nil, nil
	}
	var chans []notifications.Channel
	for _, c := range cfg.Notify.Channels {
		switch c.Type {
		case "wecom":
			wc := wecom.Config{Name: c.Name, WebhookURL: c.WebhookURL, Mentions: c.Mentions, MentionMobiles: c.MentionMobile}
			if err := wc.Validate(); err != nil {
				return nil, fmt.Errorf("notifications: channel %s: %w", c.Name, err)
			}
			chans = append(chans, wecom.New(wc))
		case "dingtalk":
			dc := dingtalk.Config{Name: c.Name, WebhookURL: c.WebhookURL, Secret: c.Secret, AtUserIDs: c.Mentions, AtMobiles: c.MentionMobile}
			if err := dc.Validate(); err != nil {
				return nil, fmt.Errorf("notifications: channel %s: %w", c.Name, err)
			}
			chans = append(chans, dingtalk.New(dc))
		}
	}
	routes := make([]notifications.Route, 0, len(cfg.Notify.Routes))
	for _, r := range cfg.Notify.Routes {
		routes = append(routes, notifications.Route{Channel: r.Channel, MinSeverity: r.MinSeverity, Kinds: r.Kinds, Scopes: r.Scopes})
	}
	if len(routes) == 0 {
		for _, c := range chans {
			routes = append(routes, notifications.Route{Channel: c.Name(), MinSeverity: notifications.SeverityWarning})
		}
	}
	titles := map[string]string{}
	opts := notifications.Options{
		GroupWindow: cfg.Notify.GroupWindow, EscalateAfter: cfg.Notify.EscalateAfter, EscalateTo: cfg.Notify.EscalateTo,
		// Robots count their rate limits in real time, whatever a
		// simulation does to the server's clock.
		Now: time.Now, Logger: a.log.With("component", "notify"), RuleTitles: titles,
		OnSent: func(channel string, firstRaised time.Time, n int) {
			a.Metrics.NotificationsSent.WithLabelValues(channel, "sent").Add(float64(n))
			// Raised on the server's clock, sent on the wall clock: equal
			// outside simulation mode.
			a.Metrics.NotifyLatency.Observe(time.Since(firstRaised).Seconds())
		},
	}
	if err := notifications.Validate(chans, routes, opts); err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	return &notifier{d: notifications.NewDispatcher(a.DB, chans, routes, opts), baseURL: cfg.PublicURL, app: a}, nil
}

// Handle is the bus handler for events.TopicAlerts.
func (n *notifier) Handle(msg *message.Message) error {
	var ch events.AlertChanges
	if err := json.Unmarshal(msg.Payload, &ch); err != nil {
		return fmt.Errorf("%w: decode %s message %s: %v", events.ErrPermanent, events.TopicAlerts, msg.UUID, err)
	}
	for _, a := range ch.Alerts {
		switch {
		case a.Raised:
			n.d.Notify(msg.Context(), notifications.Alert{
				ID: a.ID, Rule: a.Rule, Kind: a.Kind, Severity: a.Severity, Order: a.Channel + "/" + a.OrderNo,
				Scope: a.Scope, Summary: a.Summary, Link: n.baseURL + "/orders/" + a.Channel + "/" + a.OrderNo, RaisedAt: a.RaisedAt,
			})
		case a.State == detect.StateAcknowledged || a.State == detect.StateResolved:
			n.d.Acknowledged(a.ID)
		}
	}
	return nil
}

// start loads the silences in force and runs the dispatcher.
func (n *notifier) start(ctx context.Context) error {
	ss, err := storage.NewAlerts(n.app.DB).Silences(ctx, n.app.now())
	if err != nil {
		return err
	}
	for _, s := range ss {
		n.silence(s)
	}
	go func() {
		if err := n.d.Run(ctx); err != nil && ctx.Err() == nil {
			n.app.log.Error("notifier stopped", "err", err)
		}
	}()
	return nil
}

func (n *notifier) silence(s storage.Silence) {
	n.d.Silence(notifications.Silence{Rule: s.Rule, Scope: s.Scope, Until: s.Until})
}
