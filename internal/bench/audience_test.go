package bench

import (
	"context"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/pgtest"
)

// TestMain also plays the subscribers' process when asked to: the test
// binary stands in for tower bench-subscribers.
func TestMain(m *testing.M) {
	if os.Getenv("TOWER_BENCH_AS_SUBSCRIBERS") == "1" {
		var rest []string
		for _, a := range os.Args[1:] {
			if !strings.HasPrefix(a, "-test.") {
				rest = append(rest, a)
			}
		}
		fs := flag.NewFlagSet("bench-subscribers", flag.ExitOnError)
		n := fs.Int("n", 0, "")
		_ = fs.Parse(rest)
		if err := ServeSubscribers(fs.Args(), os.Getenv("TOWER_BENCH_TOKEN"), *n, os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Subscribers in a process of their own, on both nodes of a cluster: they
// all open, the backlog frames the ingest causes reach them (counted by
// the child on request), and closing the audience ends the process.
func TestSubscribersApart(t *testing.T) {
	ctx := context.Background()
	dsn, _ := pgtest.CreateDB(t, "audience")
	cfg, err := config.Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	quiet := func(string, ...any) {}
	cl, err := startNodes(ctx, cfg, dsn, Options{Nodes: 2, Bus: "postgres"}, io.Discard, quiet)
	t.Cleanup(func() { cl.stop(quiet) })
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := cl.nodes[0].Auth.CreateToken(ctx, auth.NewToken{Name: "audience", Role: access.Ops}, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOWER_BENCH_AS_SUBSCRIBERS", "1")
	const n = 20
	a, _, err := openSubscribers([]string{os.Args[0], "-test.run=^$"}, cl.urls, token, n, quiet)
	if err != nil {
		t.Fatal(err)
	}
	r := a.(*remote)
	before := a.frames()
	snd := newSender(cl.urls, "bench", cl.secret, 2)
	for i := range 4 {
		body, _ := snd.events(5)
		if err := snd.post(ctx, i, body, 5); err != nil {
			t.Fatal(err)
		}
	}
	// Each subscriber is told of the new backlog at least once.
	pgtest.WaitFor(t, 20*time.Second, func() bool { return a.frames()-before >= n })
	a.close()
	if r.cmd.ProcessState == nil || !r.cmd.ProcessState.Success() {
		t.Errorf("the subscribers' process ended %v", r.cmd.ProcessState)
	}
}
