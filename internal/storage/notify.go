package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/notify"
)

// NotifyConfig stores robots and routes configured through the API.
type NotifyConfig struct{ db *bun.DB }

func NewNotifyConfig(db *bun.DB) *NotifyConfig { return &NotifyConfig{db: db} }

// RouteRow is a stored route.
type RouteRow struct {
	ID int64
	notify.Route
}

// Revision moves on every change.
func (s *NotifyConfig) Revision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.db.NewRaw(`SELECT revision FROM notification_revision`).Scan(ctx, &rev)
	return rev, err
}

// Channels lists the stored robots.
func (s *NotifyConfig) Channels(ctx context.Context) ([]notify.Channel, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, type, webhook_url, secret, mentions, mention_mobiles FROM notification_channels ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("notification channels: %w", err)
	}
	defer rows.Close()
	var out []notify.Channel
	for rows.Next() {
		var c notify.Channel
		if err := rows.Scan(&c.Name, &c.Type, &c.WebhookURL, &c.Secret, pgdialect.Array(&c.Mentions), pgdialect.Array(&c.MentionMobile)); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Routes lists the stored routes.
func (s *NotifyConfig) Routes(ctx context.Context) ([]RouteRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, channel, min_severity, kinds, scopes FROM notification_routes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("notification routes: %w", err)
	}
	defer rows.Close()
	var out []RouteRow
	for rows.Next() {
		var r RouteRow
		if err := rows.Scan(&r.ID, &r.Channel, &r.MinSeverity, pgdialect.Array(&r.Kinds), pgdialect.Array(&r.Scopes)); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *NotifyConfig) change(ctx context.Context, f func(tx bun.Tx) error) error {
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := f(tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE notification_revision SET revision = revision + 1`)
		return err
	})
}

// SaveChannel creates or replaces a robot.
func (s *NotifyConfig) SaveChannel(ctx context.Context, c notify.Channel, now time.Time, by string) error {
	return s.change(ctx, func(tx bun.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO notification_channels (name, type, webhook_url, secret, mentions, mention_mobiles, updated_at, updated_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET type = excluded.type, webhook_url = excluded.webhook_url, secret = excluded.secret,
				mentions = excluded.mentions, mention_mobiles = excluded.mention_mobiles, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			c.Name, c.Type, c.WebhookURL, c.Secret, pgdialect.Array(nonNil(c.Mentions)), pgdialect.Array(nonNil(c.MentionMobile)), now, by)
		return err
	})
}

// DeleteChannel removes a robot and its routes.
func (s *NotifyConfig) DeleteChannel(ctx context.Context, name string) (bool, error) {
	var n int64
	err := s.change(ctx, func(tx bun.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM notification_channels WHERE name = ?`, name)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	return n > 0, err
}

// ErrNoChannel is returned for a route to an unknown stored channel.
var ErrNoChannel = errors.New("no such notification channel")

// AddRoute stores a route.
func (s *NotifyConfig) AddRoute(ctx context.Context, r notify.Route, now time.Time, by string) (int64, error) {
	var id int64
	err := s.change(ctx, func(tx bun.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO notification_routes (channel, min_severity, kinds, scopes, updated_at, updated_by)
			SELECT name, ?, ?, ?, ?, ? FROM notification_channels WHERE name = ? RETURNING id`,
			r.MinSeverity, pgdialect.Array(nonNil(r.Kinds)), pgdialect.Array(nonNil(r.Scopes)), now, by, r.Channel).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoChannel
		}
		return err
	})
	return id, err
}

// DeleteRoute removes a route.
func (s *NotifyConfig) DeleteRoute(ctx context.Context, id int64) (bool, error) {
	var n int64
	err := s.change(ctx, func(tx bun.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM notification_routes WHERE id = ?`, id)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	return n > 0, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
