// Package migrations holds Tower's versioned schema as embedded SQL files and
// applies them with bun's migrator.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"log/slog"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

//go:embed *.sql
var files embed.FS

// advisoryLock serialises migrators across processes: a second `tower
// migrate` or `serve` waits for the first instead of failing or racing.
const advisoryLock = 0x70776572 // "twer"

// Migrate applies every pending migration. Safe to run twice and from several
// processes at once.
func Migrate(ctx context.Context, db *bun.DB, log *slog.Logger) error {
	ms := migrate.NewMigrations()
	if err := ms.Discover(files); err != nil {
		return fmt.Errorf("migrate: discover: %w", err)
	}
	// The session-level advisory lock lives on one pinned connection.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", advisoryLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", advisoryLock)
	}()

	m := migrate.NewMigrator(db, ms)
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("migrate: init: %w", err)
	}
	group, err := m.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if group.IsZero() {
		log.Info("database schema up to date")
		return nil
	}
	log.Info("database migrated", "group", group.ID, "migrations", group.Migrations.String())
	return nil
}

// Rollback undoes the last applied group (for development and tests).
func Rollback(ctx context.Context, db *bun.DB) error {
	ms := migrate.NewMigrations()
	if err := ms.Discover(files); err != nil {
		return fmt.Errorf("rollback: discover: %w", err)
	}
	m := migrate.NewMigrator(db, ms)
	if _, err := m.Rollback(ctx); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}
