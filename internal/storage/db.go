// Package storage opens Tower's PostgreSQL through bun and holds the read
// side queries (orders, backlog) that the API serves.
package storage

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// Pool is how one connection pool behaves.
type Pool struct {
	// Name shows in pg_stat_activity (application_name).
	Name string
	// MaxConns bounds the pool's connections (default 40).
	MaxConns int
	// StatementTimeout, when set, makes PostgreSQL cancel any statement of
	// this pool running longer.
	StatementTimeout time.Duration
}

// Open connects to dsn with the default pool and checks the server answers.
func Open(ctx context.Context, dsn string) (*bun.DB, error) {
	return OpenPool(ctx, dsn, Pool{Name: "tower"})
}

// OpenPool connects to dsn with its own pool. The API reads through a pool
// apart from ingest and the bus, with a statement timeout, so a heavy
// query can neither hold every connection nor run forever.
func OpenPool(ctx context.Context, dsn string, p Pool) (*bun.DB, error) {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if p.Name != "" {
		cc.RuntimeParams["application_name"] = p.Name
	}
	if p.StatementTimeout > 0 {
		cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(p.StatementTimeout.Milliseconds(), 10)
	}
	sqldb := stdlib.OpenDB(*cc)
	if p.MaxConns <= 0 {
		// Two cores: a few dozen connections is plenty; the ingest path batches.
		p.MaxConns = 40
	}
	sqldb.SetMaxOpenConns(p.MaxConns)
	sqldb.SetMaxIdleConns(max(p.MaxConns/2, 1))
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	db := bun.NewDB(sqldb, pgdialect.New())
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect database: %w", err)
	}
	return db, nil
}
