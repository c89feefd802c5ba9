package figures

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
)

// rebuildPage is how many twins a rebuild folds before writing what it
// counted (counts are added, so writing early changes nothing).
const rebuildPage = 5000

// Ensure rebuilds the rollups from the twins when they were built with
// other definitions or settings than r's (or never, as on the first start
// after the tables appear beside existing orders). It reports whether it
// rebuilt.
func (r *Rollups) Ensure(ctx context.Context, db *bun.DB, log *slog.Logger, now time.Time) (bool, error) {
	fp, err := builtWith(ctx, db)
	if err != nil {
		return false, err
	}
	if fp == r.s.Fingerprint() {
		return false, nil
	}
	log.Info("figures: rebuilding the rollups from the twins", "built_with", fp, "settings", r.s.Fingerprint())
	start := time.Now()
	n, err := r.rebuild(ctx, db, now, true)
	if err != nil {
		return false, err
	}
	log.Info("figures: rollups rebuilt", "twins", n, "took", time.Since(start).Round(time.Millisecond))
	return n >= 0, nil
}

// Rebuild recomputes the rollups from the twins, whatever they hold.
func (r *Rollups) Rebuild(ctx context.Context, db *bun.DB, now time.Time) (twins int, err error) {
	return r.rebuild(ctx, db, now, false)
}

func builtWith(ctx context.Context, db bun.IDB) (string, error) {
	var fp string
	err := db.QueryRowContext(ctx, `SELECT fingerprint FROM figure_settings`).Scan(&fp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("figures: read settings: %w", err)
	}
	return fp, nil
}

// rebuild replaces the rollups with the contribution of every stored twin,
// in one transaction: readers see the old figures until it commits. The
// projection waits meanwhile: its transaction adds its delta once the
// rebuild has committed, on top of a sum that counted its twin as before,
// which is what the delta expects. With onlyIfStale a rebuild another node
// finished meanwhile is not repeated (it returns -1).
func (r *Rollups) rebuild(ctx context.Context, db *bun.DB, now time.Time, onlyIfStale bool) (int, error) {
	count := 0
	err := db.RunInTx(ctx, nil, func(ctx context.Context, btx bun.Tx) error {
		tx := btx.Tx
		if _, err := tx.ExecContext(ctx, `LOCK TABLE figure_rollups, figure_open, figure_settings IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("figures: lock rollups: %w", err)
		}
		if onlyIfStale {
			fp, err := builtWith(ctx, btx)
			if err != nil {
				return err
			}
			if fp == r.s.Fingerprint() {
				count = -1
				return nil
			}
		}
		for _, q := range []string{`DELETE FROM figure_rollups`, `DELETE FROM figure_open`} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("figures: clear rollups: %w", err)
			}
		}
		// A page at a time: the connection cannot write while it reads.
		var last int64
		for {
			flows, open := figures.Counts{}, figures.Counts{}
			n, next, err := r.fold(ctx, tx, last, flows, open)
			if err != nil {
				return err
			}
			if err := r.add(ctx, tx, flows, open); err != nil {
				return err
			}
			count, last = count+n, next
			if n < rebuildPage {
				break
			}
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO figure_settings (id, fingerprint, built_at) VALUES (true, $1, $2)
			ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, built_at = excluded.built_at`,
			r.s.Fingerprint(), now); err != nil {
			return fmt.Errorf("figures: record settings: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return count, nil
}

// fold adds the contribution of the twins after id after (a page of them)
// and returns how many it read and the last id.
func (r *Rollups) fold(ctx context.Context, tx *sql.Tx, after int64, flows, open figures.Counts) (int, int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, channel, order_no, twin FROM orders WHERE id > $1 ORDER BY id LIMIT $2`, after, rebuildPage)
	if err != nil {
		return 0, 0, fmt.Errorf("figures: read twins: %w", err)
	}
	defer rows.Close()
	n, last := 0, after
	for rows.Next() {
		var k order.Key
		var doc []byte
		if err := rows.Scan(&last, &k.Channel, &k.OrderNo, &doc); err != nil {
			return 0, 0, fmt.Errorf("figures: read twins: %w", err)
		}
		t := twin.New(k)
		if err := json.Unmarshal(doc, t); err != nil {
			return 0, 0, fmt.Errorf("figures: decode twin %s: %w", k, err)
		}
		f := figures.Of(t)
		figures.Contribute(&f, r.s, 1, flows, open)
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("figures: read twins: %w", err)
	}
	return n, last, nil
}
