// Command tower is Tower's single binary: `tower serve` runs a node,
// `tower migrate` applies the schema, `tower token` and `tower user`
// manage API tokens and accounts.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/towerhq/tower/internal/app"
	"github.com/towerhq/tower/internal/config"
)

const usage = `tower: real-time order-fulfilment control tower

usage:
  tower serve   [--config FILE] [--http-addr ADDR] [--database-url URL] [--bus postgres]
  tower migrate [--config FILE] [--database-url URL]
  tower simulate [--config FILE] [--target URL] [--orders N] [--speed N] [--seed N] [--truth FILE]
  tower bench   [--duration 60s] [--rate N] [--senders N] [--subscribers N] [--nodes N] [--bus postgres|nats] [--nats-url URL] [--out DIR] [--config FILE] [--force]
  tower token create --role ROLE --name NAME [--scope channel=X] [--scope warehouse=Y] [--expires 720h] [--config FILE]
  tower token revoke NAME [--config FILE]
  tower token list [--config FILE]
  tower user create --role ROLE --name NAME [--scope ...] [--config FILE]   (password on standard input)
  tower user reset-password NAME [--config FILE]                            (password on standard input)
  tower user disable|enable NAME [--config FILE]
  tower user list [--config FILE]

Roles: ceo, ops, warehouse, cs, it, admin. The simulator's GraphQL calls
(clock, scoring) use the API token in TOWER_TOKEN.

Every setting can also come from the environment (TOWER_CONFIG, TOWER_HTTP_ADDR,
DATABASE_URL, TOWER_BUS, ...); see config.example.yaml.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(ctx, args)
	case "migrate":
		err = migrate(ctx, args)
	case "simulate":
		err = simulate(ctx, args)
	case "token":
		err = token(ctx, args, os.Stdout)
	case "user":
		err = user(ctx, args, os.Stdin, os.Stdout)
	case "bench":
		err = benchCmd(ctx, args)
	case "bench-subscribers": // started by bench itself
		err = benchSubscribersCmd(args)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "tower: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tower:", err)
		os.Exit(1)
	}
}

// loadConfig parses the common flags over file and environment, then validates.
func loadConfig(name string, args []string) (config.Config, error) {
	cfg, _, err := loadConfigWith(name, args, nil)
	return cfg, err
}

// loadConfigWith is loadConfig for commands with flags of their own (extra
// adds them) and positional arguments (returned).
func loadConfigWith(name string, args []string, extra func(*flag.FlagSet)) (config.Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	if extra != nil {
		extra(fs)
	}
	file := fs.String("config", "", "YAML config file (or TOWER_CONFIG)")
	addr := fs.String("http-addr", "", "HTTP listen address (or TOWER_HTTP_ADDR)")
	dsn := fs.String("database-url", "", "PostgreSQL URL (or DATABASE_URL); empty: project-local PostgreSQL")
	bus := fs.String("bus", "", "event bus backend: postgres (or TOWER_BUS)")
	sim := fs.String("simulate", "", "on|off: run the gentle live-stream simulator inside serve (dev only)")
	clockSpeed := fs.Float64("clock-speed", 0, "simulated seconds per real second of the server's clock (mode: simulation only)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, nil, err
	}
	cfg, err := config.Load(*file, os.Getenv)
	if err != nil {
		return cfg, nil, err
	}
	for _, o := range []struct {
		flag string
		dst  *string
	}{{*addr, &cfg.HTTPAddr}, {*dsn, &cfg.DatabaseURL}, {*bus, &cfg.Bus}} {
		if o.flag != "" {
			*o.dst = o.flag
		}
	}
	if *clockSpeed != 0 {
		cfg.ClockSpeed = *clockSpeed
	}
	switch *sim {
	case "":
	case "on":
		cfg.Simulator.Enabled = true
	case "off":
		cfg.Simulator.Enabled = false
	default:
		return cfg, nil, fmt.Errorf("--simulate: want on or off, got %q", *sim)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, fs.Args(), nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, args []string) error {
	cfg, err := loadConfig("serve", args)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	slog.SetDefault(log)
	return app.Serve(ctx, cfg, log)
}

func migrate(ctx context.Context, args []string) error {
	cfg, err := loadConfig("migrate", args)
	if err != nil {
		return err
	}
	return app.Migrate(ctx, cfg, newLogger(cfg, os.Stderr))
}
