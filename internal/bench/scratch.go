package bench

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/towerhq/tower/dev/pglocal"
	"github.com/towerhq/tower/internal/config"
)

// scratchDB is a database made for one run beside the configured one (on
// the same server) and dropped after it: a bench never writes where real
// data lives.
type scratchDB struct {
	admin, url, name string
	local            *pglocal.Server
}

func scratch(ctx context.Context, cfg config.Config, force bool, step func(string, ...any)) (*scratchDB, error) {
	s, conn, err := server(ctx, cfg, force, step)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	s.name = "tower_bench_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{s.name}.Sanitize()); err != nil {
		s.stopLocal()
		return nil, fmt.Errorf("bench: create scratch database: %w", err)
	}
	if s.url, err = withDatabase(s.admin, s.name); err != nil {
		s.drop(step)
		return nil, err
	}
	step("scratch database %s on %s", s.name, redact(s.admin))
	return s, nil
}

// server connects to the configured server (starting the project-local
// one without a database_url) and refuses one whose database holds orders
// unless forced. The caller closes the connection.
func server(ctx context.Context, cfg config.Config, force bool, step func(string, ...any)) (*scratchDB, *pgx.Conn, error) {
	s := &scratchDB{}
	base := cfg.DatabaseURL
	if base == "" {
		step("no database_url: starting the project-local PostgreSQL")
		var err error
		if s.local, err = pglocal.Start(ctx, pglocal.Options{Dir: cfg.DataDir + "/postgres"}); err != nil {
			return nil, nil, fmt.Errorf("start project-local PostgreSQL: %w", err)
		}
		base = s.local.URL()
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		s.stopLocal()
		return nil, nil, fmt.Errorf("bench: connect: %w", err)
	}
	// The server a bench loads must not be serving a real installation.
	var orders int64
	var table *string
	err = conn.QueryRow(ctx, `SELECT to_regclass('orders')::text`).Scan(&table)
	if err == nil && table != nil {
		err = conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM orders LIMIT 1001) o`).Scan(&orders)
	}
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		s.stopLocal()
		return nil, nil, fmt.Errorf("bench: inspect %s: %w", redact(base), err)
	}
	if orders > 0 && !force {
		conn.Close(context.WithoutCancel(ctx))
		s.stopLocal()
		return nil, nil, fmt.Errorf("bench: the database at %s holds orders (%d%s): a bench would load the server they live on; use a server of its own, or --force",
			redact(base), min(orders, 1000), map[bool]string{true: "+", false: ""}[orders > 1000])
	}
	s.admin = base
	return s, conn, nil
}

// drained waits until the twin projection has acknowledged every message
// on the order events topic.
func (s *scratchDB) drained(ctx context.Context, limit time.Duration) error {
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	deadline := time.Now().Add(limit)
	for {
		var pending int64
		err := conn.QueryRow(ctx, `SELECT count(*) FROM watermill_order_events_v1 m, watermill_offsets_order_events_v1 o
			WHERE o.consumer_group = 'twin-projection' AND (m.transaction_id, m."offset") > (o.last_processed_transaction_id, o.offset_acked)`).Scan(&pending)
		if err != nil {
			return fmt.Errorf("bench: projection backlog: %w", err)
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %d messages still unprojected after %s", pending, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *scratchDB) drop(step func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, s.admin); err == nil {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{s.name}.Sanitize()+" WITH (FORCE)"); err != nil {
			step("could not drop %s: %v", s.name, err)
		} else {
			step("dropped %s", s.name)
		}
		conn.Close(ctx)
	}
	s.stopLocal()
}

func (s *scratchDB) stopLocal() {
	if s.local != nil {
		_ = s.local.Stop(context.Background())
	}
}

// withDatabase is dsn (URL or key=value form) naming database instead.
func withDatabase(dsn, database string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("bench: database url: %w", err)
		}
		u.Path = "/" + database
		return u.String(), nil
	}
	return dsn + " dbname=" + database, nil
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if err != nil {
			return "(database)"
		}
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "***")
	}
	return u.String()
}
