// Package resolvers holds Tower's hand-written GraphQL resolvers; the
// runtime gqlgen generates lives in graph/generated.
package resolvers

//go:generate go tool gqlgen generate --config ../../gqlgen.yml

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/clock"
	"github.com/towerhq/tower/config"
	"github.com/towerhq/tower/detect"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/live"
	"github.com/towerhq/tower/metrics"
	"github.com/towerhq/tower/storage"
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
	RuleStore  *detect.Rules
	// Clock is the server's clock; a *clock.Scaled in simulation mode.
	Time       clock.Clock
	Simulation bool
	// OnSilence tells the notifier about a new silence.
	OnSilence func(storage.Silence)
	// NotifyStore holds the robots configured through the API; NotifyFile
	// those of the configuration file (listed read-only).
	NotifyStore *storage.NotifyConfig
	NotifyFile  config.Notify
}

// change runs f in a transaction and publishes the alert and work-item
// changes it made, so every node's subscribers and the notifier see them.
func (r *Resolver) change(ctx context.Context, f func(tx bun.Tx) (detect.Outcome, error)) (detect.Outcome, error) {
	var out detect.Outcome
	err := r.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if out, err = f(tx); err != nil {
			return err
		}
		return detect.Publish(ctx, r.Bus, tx.Tx, out, true)
	})
	return out, err
}
