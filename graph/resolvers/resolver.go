// Package resolvers holds Tower's hand-written GraphQL resolvers; the
// runtime gqlgen generates lives in graph/generated.
package resolvers

//go:generate sh -c "cd ../.. && go tool gqlgen generate --config gqlgen.yml"

import (
	"context"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/graph/directives"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/clock"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/detection"
	"github.com/towerhq/tower/internal/figures"
	"github.com/towerhq/tower/internal/incidents"
	"github.com/towerhq/tower/internal/live"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/storage"
)

// Resolver is the root; server wiring fills its dependencies.
type Resolver struct {
	Store   *storage.Orders
	Hub     *live.Hub
	Metrics *metrics.Metrics
	Now     func() time.Time
	// BacklogPushInterval coalesces backlogChanged pushes per client.
	BacklogPushInterval time.Duration
	// OrderPushInterval coalesces orderUpdated pushes per client.
	OrderPushInterval time.Duration

	DB         *bun.DB
	Bus        events.Bus
	AlertStore *storage.Alerts
	RuleStore  *detection.Rules
	// Clock is the server's clock; a *clock.Scaled in simulation mode.
	Time       clock.Clock
	Simulation bool
	// NotifyStore holds the robots configured through the API; NotifyFile
	// those of the configuration file (listed read-only).
	NotifyStore *storage.NotifyConfig
	NotifyFile  config.Notify
	// Poison shows, retries and discards the bus's parked messages.
	Poison *events.PoisonQueue
	// Figures reads the views' figures; FigurePushInterval coalesces the
	// figure and health subscriptions per client; System says where the
	// IT view's figures come from.
	Figures            *figures.Reader
	FigurePushInterval time.Duration
	System             figures.SystemOptions
	Log                *slog.Logger
	// Auth holds accounts and tokens; Policy is the schema's @hasRole.
	Auth   *auth.Service
	Policy *directives.Policy

	// Incidents groups alerts sharing a cause; IncidentFeed pushes their
	// changes to this node's subscribers.
	IncidentStore *incidents.Store
	IncidentFeed  *incidents.Feed

	// Checks are the node's readiness checks; Sources its ingest sources
	// (for systemHealth).
	Checks  []HealthCheck
	Sources []Source

	wh warehouses
}

// HealthCheck is one readiness condition of the node.
type HealthCheck struct {
	Name  string
	Check func(context.Context) error
}

// Source is a configured ingest source.
type Source struct {
	Name, Type string
	// Channel is the sales channel whose orders it reports; "" when it
	// serves every channel.
	Channel    string
	Reconciled bool
}

// change runs f in a transaction and publishes the alert and work-item
// changes it made, so every node's subscribers and the notifier see them.
func (r *Resolver) change(ctx context.Context, f func(tx bun.Tx) (detection.Outcome, error)) (detection.Outcome, error) {
	var out detection.Outcome
	err := r.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if out, err = f(tx); err != nil {
			return err
		}
		return detection.Publish(ctx, r.Bus, tx.Tx, out, true)
	})
	return out, err
}
