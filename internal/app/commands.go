package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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
	if len(node.demo) > 0 {
		names := make([]string, 0, len(node.demo))
		for _, d := range node.demo {
			names = append(names, d.Name)
		}
		log.Info("demo accounts seeded (development only)", "accounts", names, "password_file", node.cfg.DataDir+"/"+demoPasswordFile)
		fmt.Printf("  Log in with one demo account per role (development only; production refuses them):\n")
		for _, d := range node.demo {
			scope := ""
			if len(d.Scopes) > 0 {
				scope = "  (" + strings.Join(d.Scopes, ", ") + ")"
			}
			fmt.Printf("    %-16s %s%s\n", d.Name, d.Role, scope)
		}
		fmt.Printf("  password: %s   (kept in %s/%s)\n\n", node.demoPassword, node.cfg.DataDir, demoPasswordFile)
	}
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
