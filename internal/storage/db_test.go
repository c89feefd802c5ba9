package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/towerhq/tower/internal/pgtest"
)

// TestPoolStatementTimeout: a pool with a statement timeout has PostgreSQL
// cancel what runs longer (SQLSTATE 57014), and names itself in
// pg_stat_activity; the default pool has no such timeout.
func TestPoolStatementTimeout(t *testing.T) {
	ctx := context.Background()
	dsn, drop, err := pgtest.CreateDatabase(ctx, "storage")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drop(context.Background()) })
	api, err := OpenPool(ctx, dsn, Pool{Name: "tower-api-test", MaxConns: 2, StatementTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	start := time.Now()
	_, err = api.ExecContext(ctx, `SELECT pg_sleep(5)`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("pg_sleep(5) on the API pool: %v, want a statement timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancelled after %s", d)
	}
	var name string
	if err := api.QueryRowContext(ctx, `SELECT current_setting('application_name')`).Scan(&name); err != nil || name != "tower-api-test" {
		t.Errorf("application_name %q, %v", name, err)
	}
	def, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	if _, err := def.ExecContext(ctx, `SELECT pg_sleep(0.3)`); err != nil {
		t.Errorf("default pool: %v", err)
	}
}
