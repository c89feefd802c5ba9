// Package natstest gives tests a NATS server with JetStream and a
// namespace of their own on it.
//
// URL picks the server once per test process: $TEST_NATS_URL, else
// nats://127.0.0.1:4222 if a server there answers with JetStream within
// 2s, else one started in this process from the nats-server module
// (JetStream on, its store in a temporary directory removed at exit; call
// Stop from TestMain, or let the process end).
//
// Tests sharing a server never share streams: Prefix returns a fresh
// stream and subject prefix (events.NATSOptions.Prefix), and deletes that
// prefix's streams when the test ends.
package natstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/towerhq/tower/events"
)

// DefaultURL is the server tried when $TEST_NATS_URL is not set.
const DefaultURL = "nats://127.0.0.1:4222"

var (
	once     sync.Once
	url      string
	urlErr   error
	embedded *server.Server
	storeDir string
)

// URL returns the server's URL, failing the test if there is none.
func URL(tb testing.TB) string {
	tb.Helper()
	u, err := Resolve()
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// Resolve is URL for TestMain.
func Resolve() (string, error) {
	once.Do(func() { url, urlErr = resolve() })
	return url, urlErr
}

func resolve() (string, error) {
	if u := os.Getenv("TEST_NATS_URL"); u != "" {
		return u, probe(u)
	}
	if probe(DefaultURL) == nil {
		return DefaultURL, nil
	}
	return start()
}

func probe(u string) error {
	nc, err := nats.Connect(u, nats.Timeout(2*time.Second))
	if err != nil {
		return fmt.Errorf("natstest: %s: %w", u, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("natstest: %s has no JetStream: %w", u, err)
	}
	return nil
}

// start runs a server in this process on a free port.
func start() (string, error) {
	dir, err := os.MkdirTemp("", "natstest-")
	if err != nil {
		return "", err
	}
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("natstest: start a server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("natstest: the in-process server did not start")
	}
	embedded, storeDir = s, dir
	return s.ClientURL(), nil
}

// Stop stops the in-process server, if one was started, and removes its
// store.
func Stop() {
	if embedded != nil {
		embedded.Shutdown()
		embedded.WaitForShutdown()
		_ = os.RemoveAll(storeDir)
		embedded = nil
	}
}

// Prefix returns a prefix no other test uses, and deletes its streams
// when tb ends.
func Prefix(tb testing.TB) string {
	tb.Helper()
	u := URL(tb)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	p := "t" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		if err := events.DeleteNATSStreams(u, p); err != nil {
			tb.Logf("natstest: clean up %s: %v", p, err)
		}
	})
	return p
}

// Server is a NATS server of one test, which it may stop and start again
// on the same address and store.
type Server struct {
	tb   testing.TB
	opts server.Options
	s    *server.Server
}

// Start runs a server of tb's own (JetStream, a temporary store) with
// mutate applied to its options, stopped when tb ends.
func Start(tb testing.TB, mutate func(*server.Options)) *Server {
	tb.Helper()
	opts := server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: tb.TempDir(), NoLog: true, NoSigs: true}
	if mutate != nil {
		mutate(&opts)
	}
	s := &Server{tb: tb, opts: opts}
	s.run()
	// The same port on a restart.
	s.opts.Port = s.s.Addr().(*net.TCPAddr).Port
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) run() {
	s.tb.Helper()
	opts := s.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		s.tb.Fatalf("natstest: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		s.tb.Fatal("natstest: server did not start")
	}
	s.s = srv
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.opts.Port) }

// Stop shuts the server down (its store stays for a Restart).
func (s *Server) Stop() {
	if s.s != nil {
		s.s.Shutdown()
		s.s.WaitForShutdown()
		s.s = nil
	}
}

// Restart starts the stopped server again.
func (s *Server) Restart() { s.run() }
