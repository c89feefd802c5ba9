package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/towerhq/tower/dev/simulator"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
)

// simulate plays a live-stream day against a running Tower, signing with
// the secrets of the same configuration file that Tower runs with.
func simulate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	file := fs.String("config", "", "Tower's config file: its sources and secrets (or TOWER_CONFIG)")
	target := fs.String("target", "", "Tower's base URL (default: http:// + http_addr)")
	orders := fs.Int("orders", 150_000, "orders in the day")
	burst := fs.Float64("burst-share", 70.0/150, "share of the day's orders in the hour after the stream")
	seed := fs.Int64("seed", 1, "random seed: the same seed plays the same day")
	speed := fs.Float64("speed", 600, "simulated seconds per real second")
	fs.Float64Var(speed, "clock-speed", 600, "same as --speed: the simulator sets a server in simulation mode to it")
	truth := fs.String("truth", ".data/sim/truth.jsonl", "ground-truth file (JSON lines)")
	pullAddr := fs.String("pull-addr", "", "serve the fake channel order-list APIs here (default: the config's simulator.pull_addr)")
	noFaults := fs.Bool("no-faults", false, "switch off duplicates, reordering, lost pushes and stalls")
	wxKey := fs.String("wechatpay-private-key", "", "WeChat Pay platform private key (PEM) for payment notifications")
	workers := fs.Int("workers", 32, "concurrent senders")
	linger := fs.Duration("linger", 0, "keep serving the fake pull APIs this long after the day is played (for reconciliation)")
	score := fs.Bool("score", false, "after the day (and --linger), score Tower's alerts against the ground truth")
	scoreOnly := fs.Bool("score-only", false, "do not play: score Tower's alerts against an existing --truth file")
	playFor := fs.Duration("play-for", 0, "stop this long into the simulated day (e.g. 30h; 0: play every order to its end)")
	syncClock := fs.Bool("sync-clock", true, "align a Tower in simulation mode with the simulated day")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*file, os.Getenv)
	if err != nil {
		return err
	}
	if *target == "" {
		*target = "http://" + cfg.HTTPAddr
	}
	if *pullAddr == "" {
		// Where the configuration's pull_url point.
		*pullAddr = cfg.Simulator.PullAddr
	}
	key := *wxKey
	if key == "" {
		// The pair a dev `tower serve` made, if there is one.
		keys, err := simulator.DevKeys(cfg, false)
		if err != nil {
			return err
		}
		key = keys[wechatpay.Type]
	}
	if *scoreOnly {
		return printScore(ctx, *target, *truth)
	}
	routes, pull, err := simulator.RoutesFrom(cfg, key)
	if err != nil {
		return err
	}
	sc := simulator.Defaults()
	sc.Orders, sc.BurstShare, sc.Seed = *orders, *burst, *seed
	if *noFaults {
		sc.Faults = simulator.Faults{}
	}
	if err := os.MkdirAll(filepath.Dir(*truth), 0o755); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fmt.Fprintf(os.Stderr, "simulating %d orders (seed %d) at %gx against %s; ground truth in %s\n", sc.Orders, sc.Seed, *speed, *target, *truth)
	start := time.Now()
	plan, st, err := simulator.Run(ctx, simulator.Options{
		Config: sc, Speed: *speed, Target: *target, Routes: routes, Workers: *workers,
		TruthFile: *truth, PullAddr: *pullAddr, Pull: pull, Progress: os.Stderr, Log: log, Linger: *linger, SyncClock: *syncClock, PlayFor: *playFor,
	})
	fmt.Printf("orders %d | pushes sent %d (deliberate duplicates %d) | lost pushes %d | retries %d | failed %d | refused %d | %s\n",
		len(plan.Orders), st.Sent, st.Duplicates, len(plan.Lost), st.Retried, st.Failed, st.Refused, time.Since(start).Round(time.Second))
	if err != nil || !*score {
		return err
	}
	return printScore(ctx, *target, *truth)
}

func printScore(ctx context.Context, target, truth string) error {
	alerts, err := simulator.FetchAlerts(ctx, target)
	if err != nil {
		return err
	}
	rows, falseAlarms, flagged, err := simulator.Score(truth, alerts)
	if err != nil {
		return err
	}
	simulator.PrintScore(os.Stdout, rows, falseAlarms, flagged)
	return nil
}
