package app

import (
	"context"
	"time"

	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/audit"
	"github.com/towerhq/tower/internal/figures"
	"github.com/towerhq/tower/internal/incidents"
	"github.com/towerhq/tower/internal/ingest"
	"github.com/towerhq/tower/internal/notifications/notifier"
	"github.com/towerhq/tower/internal/projection"
)

// durableGroups are the consumer groups whose unread messages pruning must
// spare, per topic. Live fan-out groups are not among them: a node that
// starts again seeks to the end of twin changes anyway.
var durableGroups = map[string][]string{
	events.TopicOrderEvents: {projection.ConsumerGroup},
	events.TopicTwinChanges: nil,
	events.TopicAlerts:      {notifier.Group, incidents.Group},
	events.TopicIncidents:   {notifier.IncidentGroup},
	events.TopicRedrive:     {projection.ConsumerGroup, notifier.Group, incidents.Group, notifier.IncidentGroup},
}

// trafficFlushEvery is how often a node adds its interface traffic to the
// cluster's per-minute rows; the IT view adds the node's own counts since,
// so only other nodes' last seconds are missing from it.
const trafficFlushEvery = 10 * time.Second

// pruneEvery is how often each node prunes the bus; nodes pruning at once
// only find less to delete.
const pruneEvery = time.Hour

// prune keeps the bus tables and the refused-delivery audit to their
// retention until ctx ends.
func (n *Node) prune(ctx context.Context) {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch b := n.Bus.(type) {
		case *events.PostgresBus:
			if n.cfg.BusRetention > 0 {
				n.pruneBus(ctx, b, n.cfg.BusRetention)
			}
		case *events.NATSBus:
			// The streams keep BusRetention themselves (max age); only the
			// payloads too large for the broker stay in the outbox.
			if pruned, err := b.PruneOutbox(ctx, n.cfg.BusRetention); err != nil && ctx.Err() == nil {
				n.log.Warn("bus retention: outbox", "err", err)
			} else if pruned > 0 {
				n.log.Info("bus retention: pruned outbox payloads", "rows", pruned)
			}
		}
		if keep := n.cfg.Ingest.RefusedRetention; keep > 0 {
			pruned, err := ingest.PruneRefused(ctx, n.DB, n.now().Add(-keep))
			switch {
			case err != nil && ctx.Err() == nil:
				n.log.Warn("refused-delivery retention", "err", err)
			case pruned > 0:
				n.log.Info("refused-delivery retention: pruned audit rows", "rows", pruned, "older_than", keep)
			}
		}
		if keep := n.cfg.Auth.AuditRetention; keep > 0 {
			// Wall-clock time: audit entries are dated by it.
			if pruned, err := audit.Prune(ctx, n.DB, time.Now().Add(-keep)); err != nil && ctx.Err() == nil {
				n.log.Warn("audit retention", "err", err)
			} else if pruned > 0 {
				n.log.Info("audit retention: pruned entries", "entries", pruned, "older_than", keep)
			}
		}
		if _, err := n.Auth.Prune(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("session retention", "err", err)
		}
		now := n.now()
		pruned, err := figures.Prune(ctx, n.DB, now.Add(-n.cfg.Figures.MinuteRetention), now)
		switch {
		case err != nil && ctx.Err() == nil:
			n.log.Warn("figures retention", "err", err)
		case pruned > 0:
			n.log.Info("figures retention: pruned rollup rows", "rows", pruned, "minutes_older_than", n.cfg.Figures.MinuteRetention)
		}
		t.Reset(pruneEvery)
	}
}

// pruneBus deletes bus messages past their retention that every durable
// consumer has read.
func (n *Node) pruneBus(ctx context.Context, bus *events.PostgresBus, keep time.Duration) {
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
}
