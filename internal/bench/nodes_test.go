package bench

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/natstest"
	"github.com/towerhq/tower/internal/pgtest"
)

// The pipeline is done when the twins hold every acknowledged event,
// whichever node took it and whichever bus carried it; and not before.
func TestDrainedCountsWhatTheTwinsHold(t *testing.T) {
	for _, c := range []struct {
		name  string
		nodes int
		bus   string
	}{
		{"one node, postgres", 1, "postgres"},
		{"two nodes, postgres", 2, "postgres"},
		{"two nodes, nats", 2, "nats"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dsn, _ := pgtest.CreateDB(t, "nodes")
			cfg, err := config.Load("", func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			o := Options{Nodes: c.nodes, Bus: c.bus}
			if c.bus == "nats" {
				o.NATSURL = natstest.URL(t)
			}
			quiet := func(string, ...any) {}
			cl, err := startNodes(ctx, cfg, dsn, o, io.Discard, quiet)
			t.Cleanup(func() { cl.stop(quiet) })
			if err != nil {
				t.Fatal(err)
			}
			if len(cl.urls) != c.nodes {
				t.Fatalf("%d nodes started, want %d", len(cl.urls), c.nodes)
			}
			snd := newSender(cl.urls, "bench", cl.secret, 4)
			const batches, singles = 6, 3
			for i := range batches {
				body, _ := snd.events(20)
				if err := snd.post(ctx, i, body, 20); err != nil {
					t.Fatal(err)
				}
			}
			for i := range singles {
				body, _ := snd.events(1)
				if err := snd.post(ctx, i, body, 1); err != nil {
					t.Fatal(err)
				}
			}
			acked := snd.acked.Load()
			if acked != batches*20+singles {
				t.Fatalf("acked %d events, want %d", acked, batches*20+singles)
			}
			db := &scratchDB{url: dsn}
			if err := db.drained(ctx, acked, time.Minute); err != nil {
				t.Fatal(err)
			}
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var orders, inTimelines int64
			if err := conn.QueryRow(ctx, `SELECT count(*), coalesce(sum(jsonb_array_length(twin->'timeline')), 0) FROM orders`).Scan(&orders, &inTimelines); err != nil {
				t.Fatal(err)
			}
			if orders != batches*10+singles || inTimelines != acked {
				t.Errorf("drained with %d orders holding %d events; want %d orders holding %d", orders, inTimelines, batches*10+singles, acked)
			}
			if n, err := projectedEvents(ctx, conn); err != nil || n != acked {
				t.Errorf("projectedEvents = %d, %v; want %d", n, err, acked)
			}
			// An event acknowledged but not yet in a twin keeps it waiting.
			if err := db.drained(ctx, acked+1, 200*time.Millisecond); err == nil {
				t.Error("drained with one acknowledged event missing from the twins")
			}
		})
	}
}
