package detection

import (
	"context"
	"database/sql"

	"github.com/towerhq/tower/events"
)

// Publish sends alert and work-item changes inside tx: to the notifier
// (TopicAlerts) and, when live is set, to every node's live views
// (TopicTwinChanges). The projection passes live=false: its own twin-change
// message already carries them.
func Publish(ctx context.Context, bus events.Bus, tx *sql.Tx, out Outcome, live bool) error {
	if len(out.Alerts) > 0 {
		msg, err := events.NewMessage(events.AlertChanges{Alerts: out.Alerts})
		if err != nil {
			return err
		}
		if err := bus.PublishTx(ctx, tx, events.TopicAlerts, msg); err != nil {
			return err
		}
	}
	if live && (len(out.Alerts) > 0 || len(out.WorkItems) > 0) {
		msg, err := events.NewMessage(events.TwinChanges{Alerts: out.Alerts, WorkItems: out.WorkItems})
		if err != nil {
			return err
		}
		return bus.PublishTx(ctx, tx, events.TopicTwinChanges, msg)
	}
	return nil
}
