// Package pglocal runs a project-local PostgreSQL server for development,
// used when no DATABASE_URL is configured.
//
// The server uses the PostgreSQL binaries installed on the machine (Debian's
// postgresql package, or $TOWER_PG_BIN); nothing is downloaded. Its files
// live under one directory (default ".data/postgres"):
//
//	<Dir>/data              the cluster (initdb'ed on first start, reused after)
//	<Dir>/run               the unix socket directory (mode 0700)
//	<Dir>/log/postgres.log  the server log
//	<Dir>/pglocal.lock      serialises concurrent Start calls on the same Dir
//
// The server listens only on a unix socket in <Dir>/run (listen_addresses is
// empty), so it never clashes with another server on port 5432. Authentication
// is "trust": anyone who can reach the socket is a superuser, which is why the
// socket directory is private to the server's owner (and root).
//
// PostgreSQL refuses to run as root. When the calling process is root, the
// server runs as the system user "postgres" (created by Debian's postgresql
// package), and <Dir> is chowned to that user.
//
// If a server is already running on <Dir> (for example a second "make run",
// or test binaries running in parallel), Start connects to it instead of
// starting another one; such a Server is not owned and Stop leaves it running.
// The Server that did start it stops it on Stop, even if others still use it.
// The postmaster runs detached from the caller (its own session), so a crash
// of the calling process leaves it running; the next Start reuses it.
package pglocal

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// DefaultDir is the data directory used when Options.Dir is empty,
	// relative to the current working directory.
	DefaultDir = ".data/postgres"
	// DefaultDatabase is the database created when Options.Database is empty.
	DefaultDatabase = "tower"
	// Port is the port number of the server. The server listens on a unix
	// socket only, so the number merely names the socket file
	// (<Dir>/run/.s.PGSQL.54329); it is chosen away from 5432 regardless.
	Port = 54329

	// superuser is the bootstrap superuser created by initdb (-U).
	superuser = "postgres"
	// systemUser is the OS account the server runs as when we are root.
	systemUser = "postgres"
	// readyTimeout bounds how long Start waits for the server to accept
	// connections.
	readyTimeout = 30 * time.Second
	// stopTimeout bounds pg_ctl stop.
	stopTimeout = 60 * time.Second
	// maxSocketPath is the limit on a unix socket path (sun_path) on Linux,
	// minus the terminating NUL.
	maxSocketPath = 107
	// confFile is the settings file managed by pglocal inside the data
	// directory, included at the end of postgresql.conf and rewritten on
	// every start.
	confFile = "tower.conf"
)

// Options configures Start.
type Options struct {
	// Dir holds the cluster, socket and log. Default DefaultDir, relative to
	// the current working directory; it is made absolute.
	Dir string
	// Logger receives start/stop events. Default slog.Default().
	Logger *slog.Logger
	// Database is created if missing and is the database named by URL.
	// Default DefaultDatabase.
	Database string
	// FallbackRoot holds the cluster instead of Dir when the process is root
	// and the server's user cannot reach Dir (a project cloned into /root,
	// mode 0700). Default DefaultFallbackRoot.
	FallbackRoot string
}

// DefaultFallbackRoot is where clusters go whose Dir the server's user cannot
// reach: one folder per Dir, named after it.
const DefaultFallbackRoot = "/var/lib/tower"

// Server is a running local PostgreSQL server.
type Server struct {
	dir      string
	dataDir  string
	database string
	url      string
	pid      int
	owned    bool
	logger   *slog.Logger
	run      *runner

	stopOnce sync.Once
	stopErr  error
}

// URL returns a DSN for the server's database, usable by pgx and by
// database/sql through pgx's stdlib driver, e.g.
// postgres://postgres@/tower?host=%2Fabs%2F.data%2Fpostgres%2Frun&port=54329&sslmode=disable
func (s *Server) URL() string { return s.url }

// Dir returns the absolute directory holding the server's files.
func (s *Server) Dir() string { return s.dir }

// PID returns the process id of the postmaster.
func (s *Server) PID() int { return s.pid }

// Owned reports whether this Server started the postmaster. A Server that
// found an already-running server on its Dir is not owned, and Stop leaves
// the server running.
func (s *Server) Owned() bool { return s.owned }

// Stop stops the server with a fast shutdown (pg_ctl stop -m fast): open
// transactions are rolled back, committed data is durable. It does nothing if
// the Server is not Owned or the server is already stopped. Calling Stop
// more than once is safe.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	if !s.owned {
		s.logger.Info("leaving shared local PostgreSQL running", "dir", s.dir, "pid", s.pid)
		return nil
	}
	running, _, err := s.run.status(ctx, s.dataDir)
	if err != nil {
		return err
	}
	if !running {
		s.logger.Info("local PostgreSQL already stopped", "dir", s.dir)
		return nil
	}
	s.logger.Info("stopping local PostgreSQL", "dir", s.dir, "pid", s.pid)
	start := time.Now()
	if _, err := s.run.output(ctx, "pg_ctl", "stop", "-D", s.dataDir, "-m", "fast", "-w",
		"-t", strconv.Itoa(int(stopTimeout/time.Second))); err != nil {
		return fmt.Errorf("pglocal: stop server in %s: %w", s.dir, err)
	}
	s.logger.Info("stopped local PostgreSQL", "dir", s.dir, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// Start starts (or reuses) the local server and makes sure the database
// exists. It returns once the server accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	database := opts.Database
	if database == "" {
		database = DefaultDatabase
	}
	dir := opts.Dir
	if dir == "" {
		dir = DefaultDir
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	runDir := filepath.Join(dir, "run")
	if sock := filepath.Join(runDir, ".s.PGSQL."+strconv.Itoa(Port)); len(sock) > maxSocketPath {
		return nil, fmt.Errorf("pglocal: socket path %s is longer than %d bytes, the unix socket limit; use a shorter directory", sock, maxSocketPath)
	}

	binDir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	r, err := newRunner(binDir, dir)
	if err != nil {
		return nil, err
	}

	// Check before creating anything, then create the directory tree,
	// making the directories we create traversable by the server's user.
	if err := r.checkTraversable(dir); err != nil {
		// Root can reach a project its server's user cannot (a clone in
		// /root): keep the cluster where that user can, rather than
		// asking a newcomer to change permissions of a home directory.
		if r.cred == nil {
			return nil, err
		}
		alt := fallbackDir(opts.FallbackRoot, dir)
		if altErr := r.checkTraversable(alt); altErr != nil {
			return nil, fmt.Errorf("%w (and the fallback %s: %v)", err, alt, altErr)
		}
		logger.Warn("the local PostgreSQL's user cannot reach the data folder; keeping the cluster elsewhere",
			"wanted", dir, "dir", alt, "user", systemUser)
		noteFallback(dir, alt, logger)
		dir = alt
		r.dir = alt
	}
	if err := mkdirAllTraversable(dir); err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}

	unlock, err := lockDir(ctx, filepath.Join(dir, "pglocal.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	s := &Server{
		dir:      dir,
		dataDir:  filepath.Join(dir, "data"),
		database: database,
		logger:   logger,
		run:      r,
	}
	if err := s.start(ctx, binDir); err != nil {
		return nil, err
	}
	if err := s.ensureDatabase(ctx); err != nil {
		// Don't leave a server we started running if we can't hand it out.
		if s.owned {
			_ = s.Stop(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	return s, nil
}

// start starts the postmaster or attaches to a running one, and waits until
// it accepts connections. It runs under the directory lock.
func (s *Server) start(ctx context.Context, binDir string) error {
	runDir := filepath.Join(s.dir, "run")
	logDir := filepath.Join(s.dir, "log")
	logFile := filepath.Join(logDir, "postgres.log")
	for _, d := range []string{runDir, logDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
	}
	// Hand the whole tree to the server's user (no-op when not root).
	if err := s.run.chownTree(s.dir); err != nil {
		return err
	}

	running, pid, err := s.run.status(ctx, s.dataDir)
	if err != nil {
		return err
	}
	if running {
		return s.attach(ctx, pid)
	}

	version, err := s.run.version(ctx)
	if err != nil {
		return err
	}
	s.logger.Info("starting local PostgreSQL", "dir", s.dir, "bin", binDir, "version", version)

	if err := s.initdb(ctx, version); err != nil {
		return err
	}
	if err := s.writeConfig(runDir); err != nil {
		return err
	}

	if err := s.removeZombieLocks(runDir); err != nil {
		return err
	}

	begin := time.Now()
	// pg_ctl start runs the postmaster in its own session with output
	// appended to logFile; a stale postmaster.pid left by a crash is
	// detected and replaced by the postmaster itself.
	_, err = s.run.output(ctx, "pg_ctl", "start", "-D", s.dataDir, "-l", logFile, "-w",
		"-t", strconv.Itoa(int(readyTimeout/time.Second)), "-s")
	if err != nil {
		// Lost a race with a starter that does not take our lock (e.g. a
		// manual pg_ctl start)? Then attach to it.
		if running, pid, serr := s.run.status(ctx, s.dataDir); serr == nil && running {
			return s.attach(ctx, pid)
		}
		return fmt.Errorf("pglocal: start server in %s: %w%s", s.dir, err, logTail(logFile))
	}
	pid, err = s.readPID()
	if err != nil {
		return err
	}
	s.pid = pid
	s.owned = true
	s.url = socketURL(runDir, Port, s.database)
	if err := waitReady(ctx, socketURL(runDir, Port, "postgres"), readyTimeout); err != nil {
		return fmt.Errorf("pglocal: server in %s (pid %d) started but does not accept connections: %w%s", s.dir, pid, err, logTail(logFile))
	}
	s.logger.Info("local PostgreSQL ready", "dir", s.dir, "pid", pid, "url", s.url,
		"log", logFile, "took", time.Since(begin).Round(time.Millisecond))
	return nil
}

// attach makes s a non-owning handle on the running server with the given
// pid, using the socket and port it records in postmaster.pid.
func (s *Server) attach(ctx context.Context, pid int) error {
	info, err := readPostmasterPID(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("pglocal: local PostgreSQL in %s already running (pid %d), but its postmaster.pid is unreadable: %w", s.dir, pid, err)
	}
	var adminURL string
	switch {
	case info.socketDir != "":
		s.url = socketURL(info.socketDir, info.port, s.database)
		adminURL = socketURL(info.socketDir, info.port, "postgres")
	case info.listenAddr != "":
		host := info.listenAddr
		if host == "*" || host == "0.0.0.0" {
			host = "127.0.0.1"
		} else if host == "::" {
			host = "::1"
		}
		s.url = tcpURL(host, info.port, s.database)
		adminURL = tcpURL(host, info.port, "postgres")
	default:
		return fmt.Errorf("pglocal: local PostgreSQL in %s already running (pid %d), but it accepts no connections (no socket directory or listen address)", s.dir, pid)
	}
	s.pid = pid
	s.owned = false
	if err := waitReady(ctx, adminURL, readyTimeout); err != nil {
		return fmt.Errorf("pglocal: local PostgreSQL in %s already running (pid %d), but does not accept connections: %w", s.dir, pid, err)
	}
	s.logger.Info("reusing running local PostgreSQL", "dir", s.dir, "pid", pid, "url", s.url)
	return nil
}

// initdb initialises the cluster unless it exists, and checks an existing
// cluster matches the binaries' major version.
func (s *Server) initdb(ctx context.Context, version string) error {
	pgVersion, err := os.ReadFile(filepath.Join(s.dataDir, "PG_VERSION"))
	if err == nil {
		have := strings.TrimSpace(string(pgVersion))
		if want := majorVersion(version); want != "" && have != want {
			return fmt.Errorf("pglocal: %s holds a PostgreSQL %s cluster but the server binaries are version %s; set TOWER_PG_BIN to PostgreSQL %s's bin directory, or upgrade the cluster with pg_upgrade",
				s.dataDir, have, version, have)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pglocal: %w", err)
	}
	if entries, err := os.ReadDir(s.dataDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("pglocal: %s is not empty but holds no PostgreSQL cluster (no PG_VERSION); move it away", s.dataDir)
	}

	s.logger.Info("initializing local PostgreSQL data directory", "dir", s.dataDir)
	args := []string{"-D", s.dataDir, "-U", superuser, "-A", "trust", "-E", "UTF8", "--data-checksums"}
	if _, err := s.run.output(ctx, "initdb", append(args, "--locale=C.UTF-8")...); err != nil {
		// C.UTF-8 may be missing on some systems; retry with the C locale.
		s.logger.Warn("initdb with --locale=C.UTF-8 failed; retrying with --no-locale", "err", err)
		if rerr := os.RemoveAll(s.dataDir); rerr != nil {
			return fmt.Errorf("pglocal: %w", rerr)
		}
		if _, err := s.run.output(ctx, "initdb", append(args, "--no-locale")...); err != nil {
			return fmt.Errorf("pglocal: initdb %s: %w", s.dataDir, err)
		}
	}
	return nil
}

// writeConfig (re)writes the pglocal settings file and makes sure
// postgresql.conf includes it last, so its settings win over initdb's.
func (s *Server) writeConfig(runDir string) error {
	settings := [][2]string{
		{"listen_addresses", quoteConf("")},
		{"unix_socket_directories", quoteConf(runDir)},
		{"port", strconv.Itoa(Port)},
		{"max_connections", "100"},
		{"shared_buffers", quoteConf("256MB")},
		// Durability is a product promise: never trade it for speed.
		{"fsync", "on"},
		{"synchronous_commit", "on"},
		{"full_page_writes", "on"},
	}
	var b strings.Builder
	b.WriteString("# Managed by github.com/towerhq/tower/pglocal; rewritten on every start.\n")
	b.WriteString("# Use ALTER SYSTEM (postgresql.auto.conf) for local overrides.\n")
	for _, kv := range settings {
		fmt.Fprintf(&b, "%s = %s\n", kv[0], kv[1])
	}
	if err := s.run.writeFile(filepath.Join(s.dataDir, confFile), []byte(b.String())); err != nil {
		return err
	}

	mainConf := filepath.Join(s.dataDir, "postgresql.conf")
	data, err := os.ReadFile(mainConf)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	include := "include_if_exists = " + quoteConf(confFile)
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.TrimSpace(line) == include {
			return nil
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	data = append(data, "\n# Added by github.com/towerhq/tower/pglocal.\n"+include+"\n"...)
	return s.run.writeFile(mainConf, data)
}

// removeZombieLocks removes postmaster.pid and the socket lock files in
// runDir when the process they name is a zombie. The postmaster removes stale
// lock files by itself when their process is gone, but a zombie still
// "exists" for kill(pid, 0), so it would refuse to start. The shared-memory
// interlock (which refuses to start while old backends are still attached to
// the old segment) is unaffected.
func (s *Server) removeZombieLocks(runDir string) error {
	locks, _ := filepath.Glob(filepath.Join(runDir, ".s.PGSQL.*.lock"))
	for _, lock := range append([]string{filepath.Join(s.dataDir, "postmaster.pid")}, locks...) {
		info, err := readPostmasterPID(lock)
		if err != nil || !isZombie(info.pid) {
			continue
		}
		s.logger.Warn("removing lock file of a crashed server (zombie process)", "pid", info.pid, "file", lock)
		if err := os.Remove(lock); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pglocal: %w", err)
		}
	}
	return nil
}

// processGone reports whether pid no longer runs: no such process, or a
// zombie. Without /proc it assumes the process runs.
func processGone(pid int) bool {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return false
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); errors.Is(err, fs.ErrNotExist) {
		return true
	}
	return isZombie(pid)
}

// isZombie reports whether /proc says pid is a zombie.
func isZombie(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(s[i+1:])
	return len(f) > 0 && f[0] == "Z"
}

func (s *Server) readPID() (int, error) {
	info, err := readPostmasterPID(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("pglocal: %w", err)
	}
	return info.pid, nil
}

// ensureDatabase creates s.database if missing.
func (s *Server) ensureDatabase(ctx context.Context) error {
	if s.database == "postgres" {
		return nil
	}
	adminURL, err := withDatabase(s.url, "postgres")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("pglocal: connect to local PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", s.database).Scan(&exists); err != nil {
		return fmt.Errorf("pglocal: look up database %q: %w", s.database, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{s.database}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: created concurrently
		return nil
	}
	if err != nil {
		return fmt.Errorf("pglocal: create database %q: %w", s.database, err)
	}
	s.logger.Info("created database", "database", s.database)
	return nil
}

// findBinDir returns the directory holding initdb, pg_ctl and postgres:
// $TOWER_PG_BIN if set, else the newest /usr/lib/postgresql/*/bin.
func findBinDir() (string, error) {
	if dir := os.Getenv("TOWER_PG_BIN"); dir != "" {
		if missing := missingBinaries(dir); len(missing) > 0 {
			return "", fmt.Errorf("pglocal: TOWER_PG_BIN=%s lacks %s", dir, strings.Join(missing, ", "))
		}
		return dir, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(matches, func(a, b string) int {
		return compareVersions(filepath.Base(filepath.Dir(b)), filepath.Base(filepath.Dir(a))) // newest first
	})
	for _, dir := range matches {
		if len(missingBinaries(dir)) == 0 {
			return dir, nil
		}
	}
	return "", errors.New("pglocal: no PostgreSQL server binaries found; install Debian's postgresql package (apt-get install -y postgresql), or set TOWER_PG_BIN to the directory holding initdb, pg_ctl and postgres")
}

func missingBinaries(dir string) []string {
	var missing []string
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	return missing
}

// compareVersions compares dotted numeric versions ("9.6" < "15" < "16").
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return strings.Compare(a, b)
}

// majorVersion maps "15.8" to "15" and "9.6.24" to "9.6".
func majorVersion(v string) string {
	parts := strings.Split(v, ".")
	if len(parts) == 0 || parts[0] == "" {
		return ""
	}
	if n, err := strconv.Atoi(parts[0]); err == nil && n < 10 && len(parts) > 1 {
		return parts[0] + "." + parts[1]
	}
	return parts[0]
}

// fallbackDir names the folder under root that holds the cluster meant for
// dir: readable (the project's folder name) and unique (a hash of the path),
// short enough for the socket path limit.
func fallbackDir(root, dir string) string {
	if root == "" {
		root = DefaultFallbackRoot
	}
	sum := sha256.Sum256([]byte(dir))
	name := filepath.Base(filepath.Dir(filepath.Dir(dir)))
	if len(name) > 24 || name == "/" || name == "." {
		name = "project"
	}
	return filepath.Join(root, name+"-"+filepath.Base(dir)+"-"+hex.EncodeToString(sum[:6]))
}

// noteFallback leaves a file where the cluster was meant to be, saying where
// it is, for whoever looks in the project's data folder.
func noteFallback(dir, alt string, logger *slog.Logger) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		logger.Debug("note the cluster's location", "err", err)
		return
	}
	note := "The local PostgreSQL's user cannot reach this folder, so its cluster is kept in\n" + alt + "\n"
	if err := os.WriteFile(filepath.Join(dir, "WHERE"), []byte(note), 0o644); err != nil {
		logger.Debug("note the cluster's location", "err", err)
	}
}

// mkdirAllTraversable is os.MkdirAll(dir, 0755) that also chmods the
// directories it creates to 0755, whatever the umask, so that the server's
// user can traverse them. Existing directories are left alone.
func mkdirAllTraversable(dir string) error {
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range created {
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

type postmasterInfo struct {
	pid        int
	port       int
	socketDir  string
	listenAddr string
}

// readPostmasterPID parses a postmaster.pid file: pid, data directory, start
// time, port, first socket directory, first listen address, shmem key, status.
func readPostmasterPID(path string) (postmasterInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return postmasterInfo{}, err
	}
	lines := strings.Split(string(data), "\n")
	line := func(i int) string {
		if i < len(lines) {
			return strings.TrimSpace(lines[i])
		}
		return ""
	}
	var info postmasterInfo
	if info.pid, err = strconv.Atoi(line(0)); err != nil {
		return info, fmt.Errorf("%s: bad pid %q", path, line(0))
	}
	info.port, _ = strconv.Atoi(line(3))
	if info.port == 0 {
		info.port = Port
	}
	info.socketDir = line(4)
	info.listenAddr = line(5)
	return info, nil
}

func socketURL(socketDir string, port int, database string) string {
	q := url.Values{}
	q.Set("host", socketDir)
	q.Set("port", strconv.Itoa(port))
	q.Set("sslmode", "disable")
	u := url.URL{Scheme: "postgres", User: url.User(superuser), Path: "/" + database, RawQuery: q.Encode()}
	return u.String()
}

func tcpURL(host string, port int, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     netJoin(host, port),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

func netJoin(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

func withDatabase(dsn, database string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	u.Path = "/" + database
	u.RawPath = ""
	return u.String(), nil
}

// waitReady connects to dsn until a connection succeeds or timeout passes.
func waitReady(ctx context.Context, dsn string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(context.WithoutCancel(ctx))
			if err == nil {
				return nil
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// quoteConf quotes a postgresql.conf string value.
func quoteConf(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// logTail returns the last lines of the server log, formatted for appending
// to an error, or "" if there is no log.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const maxBytes = 4096
	if fi, err := f.Stat(); err == nil && fi.Size() > maxBytes {
		_, _ = f.Seek(fi.Size()-maxBytes, io.SeekStart)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	if len(lines) == 0 {
		return ""
	}
	return "\nlast lines of " + path + ":\n\t" + strings.Join(lines, "\n\t")
}

// lockDir takes an exclusive flock on path, waiting until ctx is done.
func lockDir(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("pglocal: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("pglocal: waiting for lock %s (another process is starting the server): %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runner runs the PostgreSQL binaries, as the "postgres" system user when
// the current process is root.
type runner struct {
	binDir string
	dir    string // working directory for the commands
	cred   *syscall.Credential
	uid    int
	gids   []int
	who    string // description of the user, for messages
}

func newRunner(binDir, dir string) (*runner, error) {
	r := &runner{binDir: binDir, dir: dir}
	if os.Geteuid() != 0 {
		r.uid = os.Geteuid()
		r.gids = []int{os.Getegid()}
		if groups, err := os.Getgroups(); err == nil {
			r.gids = append(r.gids, groups...)
		}
		r.who = "the current user"
		return r, nil
	}
	u, err := user.Lookup(systemUser)
	if err != nil {
		return nil, fmt.Errorf("pglocal: PostgreSQL refuses to run as root, and there is no %q user to run it as (%v); install Debian's postgresql package, which creates it, or create it with: adduser --system --group --home /var/lib/postgresql --shell /bin/bash %s",
			systemUser, err, systemUser)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pglocal: user %q: %w", systemUser, err)
	}
	r.uid = uid
	r.gids = []int{gid}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.Atoi(id); err == nil {
				r.gids = append(r.gids, g)
				cred.Groups = append(cred.Groups, uint32(g))
			}
		}
	}
	r.cred = cred
	r.who = fmt.Sprintf("user %q (uid %d; PostgreSQL refuses to run as root)", systemUser, uid)
	return r, nil
}

// checkTraversable verifies that the server's user can reach dir: every
// existing ancestor must be searchable by it. It never changes permissions of
// existing directories (e.g. a home directory).
func (r *runner) checkTraversable(dir string) error {
	if r.uid == 0 {
		return nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if errors.Is(err, fs.ErrNotExist) {
			if filepath.Dir(d) == d {
				return nil
			}
			continue // created later by mkdirAllTraversable with mode 0755
		}
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		var bit fs.FileMode
		switch {
		case int(st.Uid) == r.uid:
			bit = 0o100
		case slices.Contains(r.gids, int(st.Gid)):
			bit = 0o010
		default:
			bit = 0o001
		}
		if d != dir && fi.Mode().Perm()&bit == 0 {
			return fmt.Errorf("pglocal: the local PostgreSQL runs as %s, which cannot traverse %s (mode %s, owner uid %d) to reach %s; put the project (or Options.Dir / .data) somewhere that user can reach, grant it search permission on %s, or set DATABASE_URL to use another server",
				r.who, d, fi.Mode().Perm(), st.Uid, dir, d)
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}

// chownTree gives dir and everything under it to the server's user, when
// running as root. Entries already owned by it are left untouched.
func (r *runner) chownTree(dir string) error {
	if r.cred == nil {
		return nil
	}
	uid, gid := int(r.cred.Uid), int(r.cred.Gid)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking (a live server's temp file)
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
			return nil
		}
		if err := os.Lchown(path, uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pglocal: chown %s to %s: %w", dir, systemUser, err)
	}
	return nil
}

// writeFile writes a file in the data directory, owned by the server's user.
func (r *runner) writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if r.cred != nil {
		if err := os.Chown(tmp, int(r.cred.Uid), int(r.cred.Gid)); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("pglocal: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pglocal: %w", err)
	}
	return nil
}

// command builds a command for one of the PostgreSQL binaries.
func (r *runner) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(r.binDir, name), args...)
	cmd.Dir = r.dir
	// Drop libpq/PG* variables (PGDATA, PGPORT, PGHOST, ...) so only our
	// flags and config apply.
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	if r.cred != nil {
		env = append(env, "HOME="+r.dir, "USER="+systemUser, "LOGNAME="+systemUser)
	}
	cmd.Env = env
	// Own process group: a Ctrl-C aimed at the caller must not reach
	// pg_ctl/initdb half-way (the postmaster detaches by itself).
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred, Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// output runs a binary and returns its output; on failure the error carries
// the output.
func (r *runner) output(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := r.command(ctx, name, args...)
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	if err != nil {
		out := strings.TrimSpace(buf.String())
		if out != "" {
			return buf.Bytes(), fmt.Errorf("%s %s: %w: %s", name, args[0], err, out)
		}
		return buf.Bytes(), fmt.Errorf("%s %s: %w", name, args[0], err)
	}
	return buf.Bytes(), nil
}

// status reports whether a postmaster is running on dataDir, per pg_ctl
// status (which ignores a stale postmaster.pid), and its pid.
func (r *runner) status(ctx context.Context, dataDir string) (running bool, pid int, err error) {
	cmd := r.command(ctx, "pg_ctl", "status", "-D", dataDir)
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		info, perr := readPostmasterPID(filepath.Join(dataDir, "postmaster.pid"))
		if errors.Is(perr, fs.ErrNotExist) {
			return false, 0, nil // stopped in between
		}
		if perr != nil {
			return false, 0, fmt.Errorf("pglocal: pg_ctl status says a server runs on %s, but: %w", dataDir, perr)
		}
		if processGone(info.pid) {
			// pg_ctl saw a zombie: a crashed postmaster nobody reaped
			// (e.g. in a container whose init does not reap orphans).
			return false, 0, nil
		}
		return true, info.pid, nil
	case errors.As(err, &exitErr) && (exitErr.ExitCode() == 3 || exitErr.ExitCode() == 4):
		// 3: not running; 4: no (accessible) data directory yet.
		return false, 0, nil
	default:
		return false, 0, fmt.Errorf("pglocal: pg_ctl status -D %s: %w: %s", dataDir, err, strings.TrimSpace(buf.String()))
	}
}

// version returns the server binaries' version, e.g. "15.8".
func (r *runner) version(ctx context.Context) (string, error) {
	out, err := r.output(ctx, "postgres", "--version")
	if err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	// "postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)"
	s := strings.TrimSpace(string(out))
	if i := strings.Index(s, ") "); i >= 0 {
		s = s[i+2:]
	}
	if f := strings.Fields(s); len(f) > 0 {
		return f[0], nil
	}
	return "", fmt.Errorf("pglocal: cannot parse postgres --version output %q", out)
}
