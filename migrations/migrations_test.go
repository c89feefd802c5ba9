package migrations_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

// testDB starts empty; TestMigrateFromEmpty migrates it. Tests needing an
// empty database of their own make one with pgtest.NewDB.
var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "migrations", &testDB)) }

var quiet = slog.New(slog.DiscardHandler)

// appTables are the tables the migrations create.
var appTables = []string{
	"webhook_deliveries",
	"webhook_receipts",
	"order_events",
	"orders",
	"stage_counts",
	"watermill_order_events_v1",
	"watermill_offsets_order_events_v1",
	"watermill_twin_changes_v1",
	"watermill_offsets_twin_changes_v1",
	"watermill_poison_v1",
	"watermill_offsets_poison_v1",
	"bus_outbox",
}

// upMigrations lists the migration names from the SQL files beside the
// package (bun names a migration by the timestamp before the first "_"),
// i.e. what bun_migrations must hold once each.
func upMigrations(t *testing.T) []string {
	t.Helper()
	paths, err := fs.Glob(os.DirFS("."), "*.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		name, _, _ := strings.Cut(filepath.Base(p), "_")
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) == 0 {
		t.Fatal("no *.up.sql files")
	}
	return names
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func tableExists(t *testing.T, db *bun.DB, table string) bool {
	t.Helper()
	var ok bool
	if err := db.QueryRowContext(ctxT(t), "SELECT to_regclass(?) IS NOT NULL", `"`+table+`"`).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

type applied struct {
	Name    string
	GroupID int64
}

// appliedMigrations reads bun_migrations, ordered by name.
func appliedMigrations(t *testing.T, db *bun.DB) []applied {
	t.Helper()
	rows, err := db.QueryContext(ctxT(t), "SELECT name, group_id FROM bun_migrations ORDER BY name, id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []applied
	for rows.Next() {
		var a applied
		if err := rows.Scan(&a.Name, &a.GroupID); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func names(as []applied) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Name
	}
	return out
}

func assertSchema(t *testing.T, db *bun.DB, want []string) {
	t.Helper()
	for _, table := range appTables {
		if !tableExists(t, db, table) {
			t.Errorf("table %s missing after Migrate", table)
		}
	}
	if got := names(appliedMigrations(t, db)); !slices.Equal(got, want) {
		t.Errorf("bun_migrations = %v, want each of %v exactly once", got, want)
	}
}

func TestMigrateFromEmpty(t *testing.T) {
	want := upMigrations(t)
	testDB := testDB
	if tableExists(t, testDB, "bun_migrations") {
		// A repetition (-count): the package database is migrated already.
		testDB = pgtest.NewDB(t, t.Name())
	}
	for _, table := range appTables {
		if tableExists(t, testDB, table) {
			t.Fatalf("table %s exists before Migrate", table)
		}
	}
	if err := migrations.Migrate(ctxT(t), testDB, quiet); err != nil {
		t.Fatalf("Migrate on an empty database: %v", err)
	}
	assertSchema(t, testDB, want)
	first := appliedMigrations(t, testDB)

	// A second run (a restart) finds nothing to do.
	if err := migrations.Migrate(ctxT(t), testDB, quiet); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if again := appliedMigrations(t, testDB); !slices.Equal(again, first) {
		t.Errorf("second Migrate changed bun_migrations: %v, was %v", again, first)
	}
	assertSchema(t, testDB, want)
}

func TestMigrateConcurrently(t *testing.T) {
	want := upMigrations(t)
	dsn, _ := pgtest.CreateDB(t, t.Name())
	const n = 4
	dbs := make([]*bun.DB, n)
	for i := range dbs {
		db, err := pgtest.Open(dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	ctx := ctxT(t)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() {
			<-start
			errs[i] = migrations.Migrate(ctx, db, quiet)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
	}
	assertSchema(t, dbs[0], want)
	groups := map[int64]bool{}
	for _, a := range appliedMigrations(t, dbs[0]) {
		groups[a.GroupID] = true
	}
	if len(groups) != 1 {
		t.Errorf("migrations applied in %d groups, want 1 (one migrator did the work)", len(groups))
	}
}

func TestRollbackAllThenMigrate(t *testing.T) {
	want := upMigrations(t)
	db := pgtest.NewDB(t, t.Name())
	ctx := ctxT(t)
	if err := migrations.Migrate(ctx, db, quiet); err != nil {
		t.Fatal(err)
	}
	// Put a row in so the down migrations run against real data.
	if _, err := db.ExecContext(ctx, `INSERT INTO stage_counts (stage, count) VALUES ('PAID', 1)`); err != nil {
		t.Fatal(err)
	}

	for round := range 2 {
		for i := 0; len(appliedMigrations(t, db)) > 0; i++ {
			if i > len(want) {
				t.Fatalf("round %d: still %v applied after %d rollbacks", round, appliedMigrations(t, db), i)
			}
			if err := migrations.Rollback(ctx, db); err != nil {
				t.Fatalf("round %d: Rollback: %v", round, err)
			}
		}
		for _, table := range appTables {
			if tableExists(t, db, table) {
				t.Errorf("round %d: table %s still exists after rolling back every group", round, table)
			}
		}
		if err := migrations.Migrate(ctx, db, quiet); err != nil {
			t.Fatalf("round %d: Migrate after Rollback: %v", round, err)
		}
		assertSchema(t, db, want)
	}
}
