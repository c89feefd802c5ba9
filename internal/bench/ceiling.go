package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ceiling measures what PostgreSQL itself does on this machine, without
// Tower: per event one insert with a unique key plus one upsert of a
// "twin" row, perCommit events per transaction, from clients connections,
// for d. It is the yardstick the pipeline's figures are divided by. It is
// pgbench's figure when pgbench is installed (beside the server's
// binaries), as the issue measured it; otherwise the same work from Go,
// each commit's statements sent in one round trip. The second return says
// which.
func ceiling(ctx context.Context, dsn string, clients, perCommit int, d time.Duration) (float64, string, error) {
	if bin := pgbenchBinary(); bin != "" {
		rows, err := ceilingPgbench(ctx, bin, dsn, clients, perCommit, d)
		return rows, "pgbench", err
	}
	rows, err := ceilingGo(ctx, dsn, clients, perCommit, d)
	return rows, "go (pipelined)", err
}

func ceilingGo(ctx context.Context, dsn string, clients, perCommit int, d time.Duration) (float64, error) {
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
				// Every statement of the commit in one round trip: the
				// best a client can ask of the server, so the yardstick is
				// strict.
				var b pgx.Batch
				for range perCommit {
					n := seq.Add(1)
					id := strconv.FormatInt(n, 10)
					key := strconv.FormatInt(n%200_000, 10)
					b.Queue(`INSERT INTO `+evT+` VALUES ('bench', $1, '{"type":"order.paid","amount":"129.00"}') ON CONFLICT DO NOTHING`, id)
					b.Queue(`INSERT INTO `+twT+` VALUES ($1, 1, '{"stage":"PAID"}')
						ON CONFLICT (key) DO UPDATE SET version = `+twT+`.version + 1, data = excluded.data`, key)
				}
				if err := tx.SendBatch(ctx, &b).Close(); err != nil {
					_ = tx.Rollback(ctx)
					errs <- err
					return
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

// pgbenchBinary finds pgbench on PATH or beside Debian's server binaries.
func pgbenchBinary() string {
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p
	}
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench"); len(m) > 0 {
		return m[len(m)-1]
	}
	return ""
}

// ceilingPgbench runs the same work as a pgbench script.
func ceilingPgbench(ctx context.Context, bin, dsn string, clients, perCommit int, d time.Duration) (float64, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("ceiling: %w", err)
	}
	defer pool.Close()
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	evT, twT := "bench_events_"+tag, "bench_twins_"+tag
	if _, err := pool.Exec(ctx, `CREATE TABLE `+evT+` (source text, event_id text, data jsonb, UNIQUE (source, event_id));
		CREATE TABLE `+twT+` (key text PRIMARY KEY, version int, data jsonb)`); err != nil {
		return 0, fmt.Errorf("ceiling: %w", err)
	}
	defer func() {
		_, _ = pool.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+evT+`, `+twT)
	}()
	var script strings.Builder
	if perCommit > 1 {
		script.WriteString("BEGIN;\n")
	}
	for i := range perCommit {
		fmt.Fprintf(&script, "\\set k%d random(1, 200000)\n\\set e%d random(1, 2000000000)\n", i, i)
		fmt.Fprintf(&script, "INSERT INTO %s VALUES ('bench', :client_id || '-' || :e%d, '{\"type\":\"order.paid\",\"amount\":\"129.00\"}') ON CONFLICT DO NOTHING;\n", evT, i)
		fmt.Fprintf(&script, "INSERT INTO %s VALUES (:k%d, 1, '{\"stage\":\"PAID\"}') ON CONFLICT (key) DO UPDATE SET version = %s.version + 1, data = excluded.data;\n", twT, i, twT)
	}
	if perCommit > 1 {
		script.WriteString("COMMIT;\n")
	}
	f, err := os.CreateTemp("", "tower-ceiling-*.sql")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script.String()); err != nil {
		f.Close()
		return 0, err
	}
	f.Close()
	secs := max(int(d.Seconds()), 1)
	out, err := exec.CommandContext(ctx, bin, "-n", "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(secs),
		"-f", f.Name(), dsn).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ceiling: pgbench: %w: %s", err, lastLines(out, 5))
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("ceiling: no tps in pgbench's output: %s", lastLines(out, 5))
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	return tps * float64(perCommit), nil
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+)`)

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], " | ")
}
