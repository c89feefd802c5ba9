package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/cursor"
)

// Filter narrows List and Each: the orders behind a figure (Drill), in the
// view's channels, shops and warehouses, within the caller's Scope. Every
// condition is answered from the orders read model's indexed columns
// (stage, channel, shop, warehouse, ship_by, created_at, updated_at) and
// the open alerts; what only the twin can say (payment and outbound times)
// is decided on the rows those narrowed to, never from the event table.
type Filter struct {
	// Stage and Channel: one of each (the orders query's first filters).
	Stage   twin.Stage
	Channel string
	// Channels, Shops, Warehouses: each non-empty list keeps the orders
	// with one of its values.
	Channels, Shops, Warehouses []string
	UpdatedFrom                 *time.Time
	UpdatedTo                   *time.Time
	// Drill is the set of orders behind a figure; its zero Set with a
	// window keeps the orders created in it.
	Drill figures.Drill
	// ExceptionTags make an order abnormal (figures.ExceptionTags).
	ExceptionTags []string
	// Scope leaves out orders the caller may not see.
	Scope access.Scopes
}

// Page is one page of List.
type Page struct {
	Orders  []events.TwinSnapshot
	Cursors []string
	HasNext bool
	// EndCursor is where the next page starts: the last order's cursor, or
	// past the last row looked at when the scan stopped early.
	EndCursor string
}

// ErrBadCursor is returned for a cursor List did not make.
var ErrBadCursor = cursor.ErrBad

var sqlTxReadOnly = sql.TxOptions{ReadOnly: true}

// maxScan bounds the rows one page looks at for sets decided on the twin
// (late shipments, waiting orders): a page of few matches among many
// candidates ends early, with a cursor to go on from.
const maxScan = 5000

// order of the rows.
type listOrder int

const (
	byUpdated listOrder = iota // most recently updated first (the lists)
	byID                       // oldest row first: stable while orders change (exports)
)

// where is f as SQL conditions on orders o.
func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(c string, a ...any) { conds = append(conds, c); args = append(args, a...) }
	in := func(col string, vs []string) {
		if len(vs) > 0 {
			add(col+" IN (?)", bun.In(vs))
		}
	}
	if f.Channel != "" {
		add("o.channel = ?", f.Channel)
	}
	if f.Stage != "" {
		add("o.stage = ?", string(f.Stage))
	}
	in("o.channel", f.Channels)
	in("o.shop", f.Shops)
	in("o.warehouse", f.Warehouses)
	if len(f.Scope.Channels) > 0 {
		add("o.channel = ANY(?)", pgdialect.Array(f.Scope.Channels))
	}
	if len(f.Scope.Warehouses) > 0 {
		add("o.warehouse = ANY(?)", pgdialect.Array(f.Scope.Warehouses))
	}
	d := f.Drill
	if c := d.Candidates(); c != nil {
		ss := make([]string, len(c))
		for i, s := range c {
			ss[i] = string(s)
		}
		if len(ss) == 0 {
			return "false", nil
		}
		add("o.stage IN (?)", bun.In(ss))
	}
	if f.UpdatedFrom != nil {
		add("o.updated_at >= ?", *f.UpdatedFrom)
	}
	if f.UpdatedTo != nil {
		add("o.updated_at < ?", *f.UpdatedTo)
	}
	windowed := !d.From.IsZero() && !d.To.IsZero()
	switch d.Set {
	case figures.SetLateShip:
		add("o.ship_by >= ? AND o.ship_by < ? AND o.ship_by <= ?", d.From, d.To, d.Now)
	case figures.SetAbnormal:
		// Tagged orders and orders with open alerts are few, each indexed.
		add(`o.id IN (SELECT x.id FROM orders x WHERE x.tags <> '{}' AND x.tags && ?::text[] AND x.created_at >= ? AND x.created_at < ?
			UNION SELECT x.id FROM (SELECT DISTINCT channel, order_no FROM alerts WHERE state <> 'RESOLVED') a
				JOIN orders x USING (channel, order_no) WHERE x.created_at >= ? AND x.created_at < ?)`,
			pgdialect.Array(nonNilStrings(f.ExceptionTags)), d.From, d.To, d.From, d.To)
	case figures.SetOpenDivergence:
		add(`(o.channel, o.order_no) IN (SELECT channel, order_no FROM alerts WHERE state <> 'RESOLVED' AND kind IN (?))`, bun.In(figures.DivergenceKinds))
	case figures.Set{}:
		if windowed {
			add("o.created_at >= ? AND o.created_at < ?", d.From, d.To)
		}
	}
	if len(conds) == 0 {
		return "true", nil
	}
	return strings.Join(conds, " AND "), args
}

// decides reports whether rows need the twin's facts to tell (Holds).
func (f Filter) decides() bool {
	switch f.Drill.Set {
	case figures.SetLateShip, figures.SetWaiting, figures.SetWaitingOverSLA:
		return true
	}
	return false
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// scan reads up to n rows of f after the position (at, id) (zero: from the
// start) in order ord.
func (o *Orders) scan(ctx context.Context, db bun.IDB, f Filter, ord listOrder, at time.Time, id int64, n int) ([]OrderRow, error) {
	cond, args := f.where()
	q := `SELECT o.id, o.channel, o.order_no, o.stage, o.twin, o.tags, o.created_at, o.updated_at, o.projected_at, o.version FROM orders o WHERE ` + cond
	switch {
	case ord == byID:
		if id > 0 {
			q += ` AND o.id > ?`
			args = append(args, id)
		}
		q += ` ORDER BY o.id LIMIT ?`
	default:
		if id > 0 {
			q += ` AND (o.updated_at, o.id) < (?, ?)`
			args = append(args, at, id)
		}
		q += ` ORDER BY o.updated_at DESC, o.id DESC LIMIT ?`
	}
	var rows []OrderRow
	if err := db.NewRaw(q, append(args, n)...).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return rows, nil
}

// holds decides the rows' twins when the filter needs it.
func (f Filter) holds(s events.TwinSnapshot) bool {
	if !f.decides() {
		return true
	}
	facts := figures.Of(s.Twin)
	return f.Drill.Holds(&facts)
}

// List returns the orders of f most recently updated first,
// keyset-paginated.
func (o *Orders) List(ctx context.Context, f Filter, first int, after string) (Page, error) {
	var at time.Time
	var id int64
	if after != "" {
		var err error
		if at, id, err = cursor.Decode(after); err != nil {
			return Page{}, err
		}
	}
	var p Page
	chunk := first + 1
	if f.decides() {
		chunk = max(chunk, 500)
	}
	for scanned := 0; ; {
		rows, err := o.scan(ctx, o.db, f, byUpdated, at, id, chunk)
		if err != nil {
			return Page{}, err
		}
		for i := range rows {
			r := &rows[i]
			scanned++
			at, id = r.UpdatedAt, r.ID
			s, err := r.Snapshot()
			if err != nil {
				return Page{}, err
			}
			if !f.holds(s) {
				continue
			}
			if len(p.Orders) == first {
				p.HasNext = true
				return p, nil
			}
			p.Orders = append(p.Orders, s)
			p.Cursors = append(p.Cursors, cursor.Encode(r.UpdatedAt, r.ID))
			p.EndCursor = p.Cursors[len(p.Cursors)-1]
		}
		if len(rows) < chunk {
			return p, nil
		}
		if scanned >= maxScan {
			// Many candidates, few matches: stop here, past what was read.
			p.HasNext, p.EndCursor = true, cursor.Encode(at, id)
			return p, nil
		}
	}
}

// EachOptions bound Each.
type EachOptions struct {
	// Max is the most orders handed to f; Each reports whether there were
	// more.
	Max int
	// Chunk rows are read per statement, each in a read-only transaction
	// with StatementTimeout (so no statement runs long and none holds a
	// snapshot for the whole export).
	Chunk            int
	StatementTimeout time.Duration
}

// Each hands the orders of f to fn, oldest row first, reading them a chunk
// at a time: the whole set is never in memory. It stops at fn's first
// error, and after o.Max orders (truncated is then true if more matched).
func (o *Orders) Each(ctx context.Context, f Filter, opts EachOptions, fn func(events.TwinSnapshot) error) (n int, truncated bool, err error) {
	if opts.Chunk <= 0 {
		opts.Chunk = 500
	}
	var id int64
	for {
		var rows []OrderRow
		err := o.db.RunInTx(ctx, &sqlTxReadOnly, func(ctx context.Context, tx bun.Tx) error {
			if opts.StatementTimeout > 0 {
				if _, err := tx.ExecContext(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", opts.StatementTimeout.Milliseconds())); err != nil {
					return fmt.Errorf("set statement timeout: %w", err)
				}
			}
			var err error
			rows, err = o.scan(ctx, tx, f, byID, time.Time{}, id, opts.Chunk)
			return err
		})
		if err != nil {
			return n, false, err
		}
		for i := range rows {
			id = rows[i].ID
			s, err := rows[i].Snapshot()
			if err != nil {
				return n, false, err
			}
			if !f.holds(s) {
				continue
			}
			if opts.Max > 0 && n == opts.Max {
				return n, true, nil
			}
			if err := fn(s); err != nil {
				return n, false, err
			}
			n++
		}
		if len(rows) < opts.Chunk {
			return n, false, nil
		}
	}
}
