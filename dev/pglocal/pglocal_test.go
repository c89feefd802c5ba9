package pglocal

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testDir returns a fresh directory for a server, reachable by the
// "postgres" user when the tests run as root (t.TempDir makes 0700 dirs).
func testDir(t *testing.T) string {
	t.Helper()
	if _, err := findBinDir(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	tmp := t.TempDir()
	for _, d := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(tmp, "pg")
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func start(t *testing.T, dir string) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func countRows(t *testing.T, dsn string) int {
	t.Helper()
	var n int
	if err := connect(t, dsn).QueryRow(context.Background(), "SELECT count(*) FROM kept").Scan(&n); err != nil {
		t.Fatalf("count rows: %v", err)
	}
	return n
}

func TestStartStopReuseData(t *testing.T) {
	dir := testDir(t)
	ctx := context.Background()

	s := start(t, dir)
	if !s.Owned() {
		t.Fatal("first Start: Owned() = false, want true")
	}
	if !strings.HasPrefix(s.URL(), "postgres://postgres@/tower?") {
		t.Errorf("URL() = %q, want a postgres://postgres@/tower?host=... socket DSN", s.URL())
	}
	conn := connect(t, s.URL())
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	var db, fsync, syncCommit, listen, shared string
	if err := conn.QueryRow(ctx, `SELECT current_database(), current_setting('fsync'),
		current_setting('synchronous_commit'), current_setting('listen_addresses'),
		current_setting('shared_buffers')`).Scan(&db, &fsync, &syncCommit, &listen, &shared); err != nil {
		t.Fatal(err)
	}
	if db != "tower" || fsync != "on" || syncCommit != "on" || listen != "" || shared != "256MB" {
		t.Errorf("database %q fsync %q synchronous_commit %q listen_addresses %q shared_buffers %q; want tower, on, on, '', 256MB",
			db, fsync, syncCommit, listen, shared)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if _, err := os.Stat(filepath.Join(dir, "log", "postgres.log")); err != nil {
		t.Errorf("server log: %v", err)
	}

	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if c, err := pgx.Connect(ctx, s.URL()); err == nil {
		c.Close(ctx)
		t.Fatal("server still accepts connections after Stop")
	}

	s2 := start(t, dir)
	if !s2.Owned() {
		t.Fatal("second Start: Owned() = false, want true")
	}
	if n := countRows(t, s2.URL()); n != 1 {
		t.Fatalf("rows after restart = %d, want 1", n)
	}
	conf, err := os.ReadFile(filepath.Join(dir, "data", "postgresql.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(conf), "include_if_exists = '"+confFile+"'"); n != 1 {
		t.Errorf("postgresql.conf includes %s %d times, want once", confFile, n)
	}
}

func TestReuseRunningServer(t *testing.T) {
	dir := testDir(t)
	ctx := context.Background()

	owner := start(t, dir)
	shared := start(t, dir)
	if shared.Owned() {
		t.Fatal("Start on a running server: Owned() = true, want false")
	}
	if shared.PID() != owner.PID() || shared.URL() != owner.URL() {
		t.Fatalf("shared server pid %d url %s; want pid %d url %s", shared.PID(), shared.URL(), owner.PID(), owner.URL())
	}
	if err := shared.Stop(ctx); err != nil {
		t.Fatalf("Stop on shared server: %v", err)
	}
	// The owner's server must still be up.
	var one int
	if err := connect(t, owner.URL()).QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("server stopped by a non-owning Stop: %v", err)
	}
}

func TestConcurrentStart(t *testing.T) {
	dir := testDir(t)
	const n = 4
	servers := make([]*Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			servers[i], errs[i] = Start(ctx, Options{Dir: dir, Logger: testLogger(t), Database: "app"})
		})
	}
	wg.Wait()
	owned := 0
	for i, s := range servers {
		if errs[i] != nil {
			t.Errorf("Start %d: %v", i, errs[i])
			continue
		}
		if s.Owned() {
			owned++
		}
	}
	// Stop the non-owners first, then the owner.
	for _, owner := range []bool{false, true} {
		for _, s := range servers {
			if s != nil && s.Owned() == owner {
				if err := s.Stop(context.Background()); err != nil {
					t.Errorf("Stop: %v", err)
				}
			}
		}
	}
	if owned != 1 {
		t.Fatalf("%d of %d concurrent Starts own the server, want exactly 1", owned, n)
	}
}

// TestCrashRecovery kills the postmaster with SIGKILL, leaving a stale
// postmaster.pid, and checks that Start recovers with committed data intact.
func TestCrashRecovery(t *testing.T) {
	dir := testDir(t)
	ctx := context.Background()

	s := start(t, dir)
	conn := connect(t, s.URL())
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	children := childPIDs(s.PID())
	if err := syscall.Kill(s.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, append(children, s.PID()))
	if _, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid")); err != nil {
		t.Fatalf("expected a stale postmaster.pid after SIGKILL: %v", err)
	}

	s2 := start(t, dir)
	if !s2.Owned() {
		t.Fatal("Start after crash: Owned() = false, want true")
	}
	if n := countRows(t, s2.URL()); n != 2 {
		t.Fatalf("rows after crash recovery = %d, want 2", n)
	}
}

func TestNoBinaries(t *testing.T) {
	t.Setenv("TOWER_PG_BIN", t.TempDir())
	_, err := Start(context.Background(), Options{Dir: filepath.Join(t.TempDir(), "pg")})
	if err == nil || !strings.Contains(err.Error(), "TOWER_PG_BIN") {
		t.Fatalf("Start with empty TOWER_PG_BIN: err = %v, want one naming TOWER_PG_BIN", err)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		less bool
	}{{"9.6", "15", true}, {"15", "16", true}, {"16", "9.6", false}, {"13", "13", false}} {
		if got := compareVersions(tc.a, tc.b) < 0; got != tc.less {
			t.Errorf("compareVersions(%q, %q) < 0 = %v", tc.a, tc.b, got)
		}
	}
	for in, want := range map[string]string{"15.8": "15", "9.6.24": "9.6", "17beta1": "17beta1", "16": "16"} {
		if got := majorVersion(in); got != want {
			t.Errorf("majorVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == strconv.Itoa(pid) {
				kids = append(kids, p)
			}
		}
	}
	return kids
}

func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pids {
		for {
			// Gone, or a zombie waiting for its (new) parent to reap it.
			stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
			if err != nil {
				break
			}
			if s := string(stat); strings.Contains(s[strings.LastIndexByte(s, ')')+1:], " Z ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("process %d still alive", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// A root user's clone in a private home folder (/root is 0700): the
// server's user cannot reach the data folder, so the cluster is kept under
// the fallback root, and a note in the data folder says where.
func TestStartUnreachableDirFallsBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs the server as another user")
	}
	home := testDir(t)
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	root, err := os.MkdirTemp("", "pglocal-fallback-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(home, "tower", ".data", "postgres")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Dir: want, FallbackRoot: root, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Start in an unreachable folder: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	if !strings.HasPrefix(s.Dir(), root+"/tower-postgres-") {
		t.Errorf("cluster in %s, want under %s named after the project", s.Dir(), root)
	}
	note, err := os.ReadFile(filepath.Join(want, "WHERE"))
	if err != nil || !strings.Contains(string(note), s.Dir()) {
		t.Errorf("note in the data folder = %q, %v; want it to name %s", note, err, s.Dir())
	}
	if _, err := connect(t, s.URL()).Exec(ctx, "CREATE TABLE kept (n int)"); err != nil {
		t.Fatalf("use the server: %v", err)
	}

	// The same folder finds the same cluster again.
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := Start(ctx, Options{Dir: want, FallbackRoot: root, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("second Start: %v", err)
	}
	t.Cleanup(func() { _ = again.Stop(context.Background()) })
	if again.Dir() != s.Dir() {
		t.Errorf("second start used %s, first %s", again.Dir(), s.Dir())
	}
	if n := countRows(t, again.URL()); n != 0 {
		t.Errorf("kept table has %d rows, want the empty table created before", n)
	}
}
