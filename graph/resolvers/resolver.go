// Package resolvers holds Tower's hand-written GraphQL resolvers; the
// runtime gqlgen generates lives in graph/generated.
package resolvers

//go:generate go tool gqlgen generate --config ../../gqlgen.yml

import (
	"time"

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
}
