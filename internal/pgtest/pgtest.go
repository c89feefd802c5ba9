// Package pgtest gives tests a real PostgreSQL database of their own.
//
// # Which server
//
// URL picks the server once per test process, in this order:
//
//  1. $TEST_DATABASE_URL
//  2. $DATABASE_URL
//  3. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable, if a
//     server there accepts that connection within 2s
//  4. a project-local server (package pglocal) in <module root>/.data/pgtest,
//     started on first use.
//
// The role must be allowed to create databases. If none of these works, the
// helpers fail the test with the reason (install the server binaries with
// dev/scripts/ensure-postgres.sh).
//
// The local server of (4) is shared by all test processes: "go test ./..."
// runs packages in parallel processes, and each one either starts it or
// reuses the one already running. Tests never stop it, because another test
// process may be using it; it stays running after the tests, ready for the
// next run. Stop it with
//
//	pg_ctl stop -D .data/pgtest/data    (as the postgres user when root:
//	su postgres -c 'pg_ctl ...', using /usr/lib/postgresql/*/bin/pg_ctl)
//
// or just leave it; deleting .data/pgtest while it is stopped resets it.
//
// # Databases
//
// Every database is created fresh (tower_test_<name>_<random>) and dropped
// afterwards, so test packages running in parallel never share state. The
// intended use is one database per test package, created in TestMain:
//
//	var testDB *bun.DB
//
//	func TestMain(m *testing.M) {
//		os.Exit(pgtest.Main(m, "orders", &testDB))
//	}
//
// Tests needing isolation from the rest of their package use NewDB for a
// database of their own, dropped when the test ends. Creating a database
// takes from tens of milliseconds to about a second (it is fsynced), so do
// not create one per subtest in bulk.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/dev/pglocal"
)

// DefaultURL is the server tried when neither $TEST_DATABASE_URL nor
// $DATABASE_URL is set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

const (
	probeTimeout = 2 * time.Second
	opTimeout    = time.Minute
	namePrefix   = "tower_test_"
)

var base = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return resolveURL(ctx, DefaultURL)
})

// URL returns the DSN of the server tests run against (see the package
// documentation for how it is chosen), connecting as a role that can create
// databases. It fails the test if no server is available. Create databases
// with CreateDB or NewDB rather than using this DSN's database directly.
func URL(tb testing.TB) string {
	tb.Helper()
	u, err := BaseURL()
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// BaseURL is URL for code without a testing.TB, such as TestMain.
func BaseURL() (string, error) { return base() }

func resolveURL(ctx context.Context, probe string) (string, error) {
	for _, env := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
		if u := os.Getenv(env); u != "" {
			return u, nil
		}
	}
	probeErr := ping(ctx, probe, probeTimeout)
	if probeErr == nil {
		return probe, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("pgtest: no TEST_DATABASE_URL or DATABASE_URL, no server at %s (%v), and %w", redact(probe), probeErr, err)
	}
	srv, err := pglocal.Start(ctx, pglocal.Options{
		Dir:      filepath.Join(root, ".data", "pgtest"),
		Logger:   slog.New(slog.DiscardHandler),
		Database: "postgres",
	})
	if err != nil {
		return "", fmt.Errorf("pgtest: no TEST_DATABASE_URL or DATABASE_URL, no server at %s (%v), and the local server failed: %w (run dev/scripts/ensure-postgres.sh to install PostgreSQL)",
			redact(probe), probeErr, err)
	}
	// Deliberately never stopped: other test processes may share it.
	return srv.URL(), nil
}

// moduleRoot walks up from the working directory (a test's package
// directory) to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func ping(ctx context.Context, dsn string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(ctx)
}

// CreateDB creates a fresh, empty database named tower_test_<name>_<random>
// and returns its DSN, and drop, which terminates its connections and drops
// it. drop is also registered with tb.Cleanup; calling it earlier is fine
// (it runs once).
func CreateDB(tb testing.TB, name string) (dsn string, drop func()) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	dsn, dropCtx, err := CreateDatabase(ctx, name)
	if err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	drop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			defer cancel()
			if err := dropCtx(ctx); err != nil {
				tb.Error(err)
			}
		})
	}
	tb.Cleanup(drop)
	return dsn, drop
}

// CreateDatabase is CreateDB for code without a testing.TB, such as
// TestMain. The caller must call drop.
func CreateDatabase(ctx context.Context, name string) (dsn string, drop func(context.Context) error, err error) {
	baseURL, err := BaseURL()
	if err != nil {
		return "", nil, err
	}
	dbName, err := databaseName(name)
	if err != nil {
		return "", nil, err
	}
	dsn, err = withDatabase(baseURL, dbName)
	if err != nil {
		return "", nil, err
	}
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return "", nil, fmt.Errorf("pgtest: connect to %s: %w", redact(baseURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{dbName}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("pgtest: create database %s on %s: %w", dbName, redact(baseURL), err)
	}
	drop = func(ctx context.Context) error {
		if err := dropDatabase(ctx, baseURL, dbName); err != nil {
			return fmt.Errorf("pgtest: drop database %s: %w", dbName, err)
		}
		return nil
	}
	return dsn, drop, nil
}

func dropDatabase(ctx context.Context, baseURL, dbName string) error {
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ident := pgx.Identifier{dbName}.Sanitize()
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42601" { // syntax error: server older than 13
		if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", dbName); err != nil {
			return err
		}
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident)
	}
	return err
}

// NewDB creates a fresh database (see CreateDB) and opens it with bun over
// pgx's database/sql driver. The handle is closed and the database dropped
// when the test ends.
func NewDB(tb testing.TB, name string) *bun.DB {
	tb.Helper()
	dsn, drop := CreateDB(tb, name)
	db, err := Open(dsn)
	if err != nil {
		drop()
		tb.Fatal(err)
	}
	// Cleanups run last-registered first: close before drop.
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

// Open opens dsn with bun (pgdialect) over pgx's database/sql driver and
// checks the connection.
func Open(dsn string) (*bun.DB, error) {
	sqldb, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("pgtest: connect to %s: %w", redact(dsn), err)
	}
	return bun.NewDB(sqldb, pgdialect.New()), nil
}

// Main runs a test package against a database of its own: it creates one
// (see CreateDB), stores a bun handle on it in *db, runs the tests, then
// closes the handle and drops the database. It returns the exit code for
// os.Exit:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "orders", &testDB)) }
func Main(m *testing.M, name string, db **bun.DB) int {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	dsn, drop, err := CreateDatabase(ctx, name)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		if err := drop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	handle, err := Open(dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer handle.Close()
	*db = handle
	return m.Run()
}

// WaitFor polls cond until it returns true, failing the test if it has not
// within timeout. Use it instead of sleeping for asynchronous effects.
func WaitFor(tb testing.TB, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(wait)
	}
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// databaseName returns tower_test_<name>_<random>, within PostgreSQL's
// 63-byte identifier limit.
func databaseName(name string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	suffix := "_" + hex.EncodeToString(b[:])
	name = strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(name), "_"), "_")
	if name == "" {
		name = "db"
	}
	if n := 63 - len(namePrefix) - len(suffix); len(name) > n {
		name = name[:n]
	}
	return namePrefix + name + suffix, nil
}

// withDatabase returns dsn with its database replaced, for URL and
// keyword/value DSNs.
func withDatabase(dsn, database string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("pgtest: parse database URL: %w", err)
		}
		u.Path = "/" + database
		u.RawPath = ""
		q := u.Query()
		if q.Has("dbname") || q.Has("database") {
			q.Del("dbname")
			q.Del("database")
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	// keyword/value: a later dbname overrides an earlier one.
	return dsn + " dbname=" + database, nil
}

// redact hides a password in a DSN for error messages.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
		return dsn
	}
	return regexp.MustCompile(`password=\S+`).ReplaceAllString(dsn, "password=xxxxx")
}
