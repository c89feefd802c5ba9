package figures

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Prune deletes minute rollups older than minutesBefore, hour rollups that
// cancelled out to zero in the two days before now (a twin that changed
// scope leaves them), and open gauges at zero. Hour rollups are kept: the
// backlog series reads them back to the present.
func Prune(ctx context.Context, db bun.IDB, minutesBefore, now time.Time) (int64, error) {
	var total int64
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM figure_rollups WHERE res = 1 AND at < ?`, []any{minutesBefore}},
		{`DELETE FROM figure_rollups WHERE res IN (60, 1440) AND at >= ? AND at < ? AND n = 0`, []any{now.Add(-72 * time.Hour), now.Add(-time.Hour)}},
		{`DELETE FROM figure_open WHERE n = 0`, nil},
		{`DELETE FROM traffic_rollups WHERE res = 1 AND at < ?`, []any{minutesBefore}},
		{`DELETE FROM traffic_rollups WHERE res = 60 AND at < ?`, []any{now.Add(-TrafficHourRetention)}},
	} {
		res, err := db.ExecContext(ctx, q.sql, q.args...)
		if err != nil {
			return total, fmt.Errorf("figures: prune: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
