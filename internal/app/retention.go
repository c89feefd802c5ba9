package app

import (
	"context"
	"time"

	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/notifications/notifier"
	"github.com/towerhq/tower/internal/projection"
)

// durableGroups are the consumer groups whose unread messages pruning must
// spare, per topic. Live fan-out groups are not among them: a node that
// starts again seeks to the end of twin changes anyway.
var durableGroups = map[string][]string{
	events.TopicOrderEvents: {projection.ConsumerGroup},
	events.TopicTwinChanges: nil,
	events.TopicAlerts:      {notifier.Group},
}

// pruneEvery is how often each node prunes the bus; nodes pruning at once
// only find less to delete.
const pruneEvery = time.Hour

// pruneBus keeps the bus tables to their retention until ctx ends.
func (n *Node) pruneBus(ctx context.Context, bus *events.PostgresBus, keep time.Duration) {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for topic, groups := range durableGroups {
			pruned, err := bus.Prune(ctx, topic, keep, groups)
			if err != nil {
				if ctx.Err() == nil {
					n.log.Warn("bus retention", "topic", topic, "err", err)
				}
				continue
			}
			if pruned > 0 {
				n.log.Info("bus retention: pruned messages", "topic", topic, "messages", pruned, "older_than", keep)
			}
		}
		t.Reset(pruneEvery)
	}
}
