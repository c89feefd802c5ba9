package pgtest

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
)

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	return exists
}

func TestNewDB(t *testing.T) {
	var name string
	t.Run("use", func(t *testing.T) {
		db := NewDB(t, t.Name())
		ctx := context.Background()
		if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "tower_test_testnewdb_use_") {
			t.Errorf("database name %q, want prefix tower_test_testnewdb_use_", name)
		}
		if _, err := db.ExecContext(ctx, "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		type item struct {
			bun.BaseModel `bun:"table:items"`
			ID            int64  `bun:"id,pk"`
			Name          string `bun:"name"`
		}
		if _, err := db.NewInsert().Model(&item{ID: 1, Name: "one"}).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		var got item
		if err := db.NewSelect().Model(&got).Where("id = ?", 1).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if got.Name != "one" {
			t.Errorf("got %+v", got)
		}
		// A connection left open must not block the drop.
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn // closed by db.Close; drop uses WITH (FORCE) anyway
		if !databaseExists(t, name) {
			t.Fatalf("database %s missing while in use", name)
		}
	})
	if name == "" {
		t.Fatal("subtest did not get a database")
	}
	if databaseExists(t, name) {
		t.Fatalf("database %s still exists after the test ended", name)
	}
}

func TestCreateDBDropEarly(t *testing.T) {
	dsn, drop := CreateDB(t, "Drop Early!")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := conn.Config().Database
	if !strings.HasPrefix(name, "tower_test_drop_early_") {
		t.Errorf("database name %q, want prefix tower_test_drop_early_", name)
	}
	// Dropping terminates the open connection.
	drop()
	if databaseExists(t, name) {
		t.Fatalf("database %s exists after drop", name)
	}
	drop() // idempotent; Cleanup calls it again too
}

func TestDatabaseName(t *testing.T) {
	long := strings.Repeat("x", 100)
	for in, prefix := range map[string]string{
		"TestFoo/bar baz": "tower_test_testfoo_bar_baz_",
		"":                "tower_test_db_",
		"__":              "tower_test_db_",
		long:              "tower_test_xxx",
	} {
		got, err := databaseName(in)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got, prefix) || len(got) > 63 {
			t.Errorf("databaseName(%q) = %q (%d bytes), want prefix %q and at most 63 bytes", in, got, len(got), prefix)
		}
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@h:5432/postgres?sslmode=disable":        "postgres://u:p@h:5432/x?sslmode=disable",
		"postgres://postgres@/tower?host=%2Fa%2Frun&port=54329": "postgres://postgres@/x?host=%2Fa%2Frun&port=54329",
		"postgresql://h/?dbname=old&sslmode=disable":            "postgresql://h/x?sslmode=disable",
		"host=/a/run port=54329 user=postgres dbname=old":       "host=/a/run port=54329 user=postgres dbname=old dbname=x",
	} {
		got, err := withDatabase(in, "x")
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("withDatabase(%q) = %q, want %q", in, got, want)
			continue
		}
		cfg, err := pgx.ParseConfig(got)
		if err != nil {
			t.Fatalf("pgx cannot parse %q: %v", got, err)
		}
		if cfg.Database != "x" {
			t.Errorf("pgx reads database %q from %q", cfg.Database, got)
		}
	}
}

func TestWaitFor(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			time.Sleep(5 * time.Millisecond)
			n.Add(1)
		}
	}()
	WaitFor(t, 5*time.Second, func() bool { return n.Load() == 3 })
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h/db":    "postgres://u:xxxxx@h/db",
		"host=h password=secret":      "host=h password=xxxxx",
		"postgres://postgres@/db?x=1": "postgres://postgres@/db?x=1",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// pkgDB is this package's database, made by Main as intended for every
// package's TestMain.
var pkgDB *bun.DB

func TestMain(m *testing.M) {
	os.Exit(Main(m, "pgtest", &pkgDB))
}

func TestMainDB(t *testing.T) {
	var name string
	if err := pkgDB.QueryRowContext(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "tower_test_pgtest_") {
		t.Errorf("package database %q, want prefix tower_test_pgtest_", name)
	}
}
