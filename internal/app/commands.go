package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/towerhq/tower/internal/config"
)

// Serve runs a node until ctx ends, then shuts it down cleanly: what was
// acknowledged is committed and the bus handlers drain.
func Serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	log.Info("starting tower", "config", fmt.Sprintf("%+v", cfg.Redacted()))
	node, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	url, err := node.Start(ctx)
	if err != nil {
		_ = node.Shutdown(context.Background())
		return err
	}
	log.Info("tower is serving", "url", url)
	fmt.Printf("\n  Tower is running: %s\n\n", url)
	<-ctx.Done()
	log.Info("shutting down: no new requests; finishing what was acknowledged")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := node.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped cleanly")
	return nil
}

// Migrate brings the database schema up to date and exits.
func Migrate(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	db, _, local, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	_ = db.Close()
	if local != nil {
		return local.Stop(context.Background())
	}
	return nil
}
