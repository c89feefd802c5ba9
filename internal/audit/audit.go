// Package audit owns the audit_log table: who did what to which subject,
// and when. Logins (and failed ones), user and token changes, changes to
// rules, robots, silences and alerts, and every unmasked view of personal
// data are recorded here; admin and it read it through the API. Rows are
// kept for a configurable period (Prune).
//
// Entries never hold secrets or personal data: a subject names a thing
// (user alice, rule late_ship, order douyin/6921...), not its content.
package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/internal/cursor"
)

// Entry is one audited action.
type Entry struct {
	ID      int64     `bun:"id"`
	At      time.Time `bun:"at"`
	Actor   string    `bun:"actor"`
	Action  string    `bun:"action"`
	Subject string    `bun:"subject"`
	// Remote is the caller's address, when the action came over HTTP.
	Remote string `bun:"remote"`
}

// maxField bounds what one entry keeps of each text: subjects come from
// callers' arguments.
const maxField = 256

func clip(s string) string {
	if len(s) <= maxField {
		return s
	}
	cut := maxField
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Record stores e (in the caller's transaction when db is one).
func Record(ctx context.Context, db bun.IDB, e Entry) error {
	if e.Actor == "" || e.Action == "" || e.At.IsZero() {
		return fmt.Errorf("audit %q: actor, action and time are required", e.Action)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, subject, remote) VALUES (?, ?, ?, ?, ?)`,
		e.At, clip(e.Actor), clip(e.Action), clip(e.Subject), clip(e.Remote))
	if err != nil {
		return fmt.Errorf("audit %s %s: %w", e.Action, e.Subject, err)
	}
	return nil
}

// Page is one page of List, newest first.
type Page struct {
	Entries []Entry
	Cursors []string
	HasNext bool
}

// ErrBadCursor is returned for a cursor List did not make.
var ErrBadCursor = cursor.ErrBad

// List returns entries newest first, keyset-paginated after a cursor.
func List(ctx context.Context, db bun.IDB, first int, after string) (Page, error) {
	q := `SELECT id, at, actor, action, subject, remote FROM audit_log`
	args := []any{}
	if after != "" {
		at, id, err := cursor.Decode(after)
		if err != nil {
			return Page{}, err
		}
		q += ` WHERE (at, id) < (?, ?)`
		args = append(args, at, id)
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ?`
	args = append(args, first+1)
	var rows []Entry
	if err := db.NewRaw(q, args...).Scan(ctx, &rows); err != nil {
		return Page{}, fmt.Errorf("list audit log: %w", err)
	}
	var p Page
	if len(rows) > first {
		rows, p.HasNext = rows[:first], true
	}
	p.Entries = rows
	for _, r := range rows {
		p.Cursors = append(p.Cursors, cursor.Encode(r.At, r.ID))
	}
	return p, nil
}

// Prune deletes entries older than before and says how many.
func Prune(ctx context.Context, db bun.IDB, before time.Time) (int64, error) {
	res, err := db.ExecContext(ctx, `DELETE FROM audit_log WHERE at < ?`, before)
	if err != nil {
		return 0, fmt.Errorf("prune audit log: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

type remoteKey struct{}

// WithRemote attaches the caller's address to ctx, for the entries
// recorded while serving it.
func WithRemote(ctx context.Context, remote string) context.Context {
	return context.WithValue(ctx, remoteKey{}, remote)
}

// RemoteFrom is the address WithRemote attached ("" if none).
func RemoteFrom(ctx context.Context) string {
	s, _ := ctx.Value(remoteKey{}).(string)
	return s
}
