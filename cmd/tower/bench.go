package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/towerhq/tower/internal/bench"
	"github.com/towerhq/tower/internal/config"
)

// benchCmd measures a node on this machine: see internal/bench.
func benchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	file := fs.String("config", "", "Tower's config file (or TOWER_CONFIG): its database_url and ingest settings")
	dsn := fs.String("database-url", "", "PostgreSQL server to bench on (or DATABASE_URL); empty: the project-local one")
	var o bench.Options
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "measuring time, split between the phases")
	fs.IntVar(&o.Rate, "rate", 1000, "fixed (open-loop) load, events per second")
	fs.IntVar(&o.Senders, "senders", 32, "webhooks in flight at saturation")
	fs.IntVar(&o.Subscribers, "subscribers", 1000, "websocket subscribers kept open")
	apart := fs.Bool("subscribers-apart", true, "run the subscribers in a process of their own (the heap per subscription is then the node's side alone)")
	fs.StringVar(&o.Out, "out", "bench/results", "folder of the JSON report")
	fs.BoolVar(&o.Force, "force", false, "bench on a server whose database holds orders")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write the 20-event saturation phase's CPU profile here (the single-event and fixed-load phases beside it, .single and .fixed)")
	fs.IntVar(&o.Nodes, "nodes", 1, "nodes to start on the scratch database (senders and subscribers spread round robin)")
	fs.StringVar(&o.Bus, "bus", "postgres", "bus the nodes share: postgres or nats")
	natsURL := fs.String("nats-url", "", "NATS server with --bus nats (default: the config's nats_url, else nats://127.0.0.1:4222)")
	var so bench.ScaleOptions
	fs.IntVar(&so.Orders, "scale", 0, "measure the views and lookups over a generated history of this many orders (about 8 events each) instead of the pipeline")
	fs.BoolVar(&so.Keep, "keep", false, "with --scale: keep the history's database for the next run (a run finding one of the same size reuses it)")
	fs.IntVar(&so.Reps, "scale-reps", 200, "with --scale: requests per view query (lookups: twice as many)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*file, os.Getenv)
	if err != nil {
		return err
	}
	if *dsn != "" {
		cfg.DatabaseURL = *dsn
	}
	o.NATSURL = *natsURL
	if *apart {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: this binary, for the subscribers' process: %w", err)
		}
		o.SubscribersCommand = []string{exe, "bench-subscribers"}
	}
	if o.NATSURL == "" {
		o.NATSURL = cfg.NATSURL
	}
	var r *bench.Report
	if so.Orders > 0 {
		so.Force = o.Force
		r, err = bench.RunScale(ctx, cfg, so, os.Stderr)
	} else {
		r, err = bench.Run(ctx, cfg, o, os.Stderr)
	}
	if err != nil {
		return err
	}
	r.Print(os.Stdout)
	p, err := r.Write(o.Out)
	if err != nil {
		return err
	}
	fmt.Println("\nreport:", p)
	return nil
}

// benchSubscribersCmd is the subscribers' process of tower bench: it opens
// -n backlog subscribers over the node URLs given, with the token in
// TOWER_BENCH_TOKEN, and talks to the bench over stdin and stdout.
func benchSubscribersCmd(args []string) error {
	fs := flag.NewFlagSet("bench-subscribers", flag.ContinueOnError)
	n := fs.Int("n", 0, "subscribers to open")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return bench.ServeSubscribers(fs.Args(), os.Getenv("TOWER_BENCH_TOKEN"), *n, os.Stdin, os.Stdout)
}
