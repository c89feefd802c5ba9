package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ceiling measures what PostgreSQL itself does on this machine, without
// Tower: per event one insert with a unique key plus one upsert of a
// "twin" row, perCommit events per transaction, from clients connections,
// for d. It is the yardstick the pipeline's figures are divided by.
func ceiling(ctx context.Context, dsn string, clients, perCommit int, d time.Duration) (float64, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("ceiling: %w", err)
	}
	defer pool.Close()
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	evT, twT := "bench_events_"+tag, "bench_twins_"+tag
	if _, err := pool.Exec(ctx, `CREATE UNLOGGED TABLE IF NOT EXISTS `+evT+` (source text, event_id text, data jsonb, UNIQUE (source, event_id));
		CREATE UNLOGGED TABLE IF NOT EXISTS `+twT+` (key text PRIMARY KEY, version int, data jsonb)`); err != nil {
		return 0, fmt.Errorf("ceiling: %w", err)
	}
	// Logged like Tower's tables: unlogged would flatter the ceiling.
	if _, err := pool.Exec(ctx, `ALTER TABLE `+evT+` SET LOGGED; ALTER TABLE `+twT+` SET LOGGED`); err != nil {
		return 0, fmt.Errorf("ceiling: %w", err)
	}
	defer func() {
		_, _ = pool.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+evT+`, `+twT)
	}()
	var rows atomic.Int64
	var seq atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for time.Now().Before(stop) && ctx.Err() == nil {
				tx, err := pool.Begin(ctx)
				if err != nil {
					errs <- err
					return
				}
				for range perCommit {
					n := seq.Add(1)
					id := strconv.FormatInt(n, 10)
					key := strconv.FormatInt(n%200_000, 10)
					if _, err := tx.Exec(ctx, `INSERT INTO `+evT+` VALUES ('bench', $1, '{"type":"order.paid","amount":"129.00"}') ON CONFLICT DO NOTHING`, id); err != nil {
						_ = tx.Rollback(ctx)
						errs <- err
						return
					}
					if _, err := tx.Exec(ctx, `INSERT INTO `+twT+` VALUES ($1, 1, '{"stage":"PAID"}')
						ON CONFLICT (key) DO UPDATE SET version = `+twT+`.version + 1, data = excluded.data`, key); err != nil {
						_ = tx.Rollback(ctx)
						errs <- err
						return
					}
				}
				if err := tx.Commit(ctx); err != nil {
					errs <- err
					return
				}
				rows.Add(int64(perCommit))
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("ceiling: %w", err)
	}
	return float64(rows.Load()) / time.Since(start).Seconds(), nil
}
