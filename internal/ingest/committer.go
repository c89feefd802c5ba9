// Package ingest stores webhook deliveries with group commit: deliveries that
// arrive together share one transaction (a micro-batch of a few
// milliseconds) that audits each delivery, stores its new canonical events,
// and publishes them on the bus. Each delivery is acknowledged only after
// that transaction commits, so an acknowledged webhook can never be lost and
// an unacknowledged one is never half-applied.
//
// What one sender sends cannot fail the deliveries it shares a commit with:
// text PostgreSQL would refuse is made storable first (package pgtext), and
// a batch PostgreSQL still refuses for its data is committed in halves down
// to the culprit, which alone fails (ErrUnstorable). Each commit has a
// deadline (Options.CommitTimeout), and Submit returns when its request's
// context ends.
package ingest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/ingest/pgtext"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/platforms"
)

// Outcomes recorded for a delivery.
const (
	OutcomeAccepted     = "accepted"
	OutcomeDuplicate    = "duplicate"
	OutcomeBadSignature = "bad_signature"
	OutcomeMalformed    = "malformed"
	OutcomeTooLarge     = "too_large"
	// OutcomeUnstorable: PostgreSQL refused what the delivery carries (see
	// ErrUnstorable); only its audit row is stored.
	OutcomeUnstorable = "unstorable"
)

// StatusUnstorable is the status audited for an unstorable delivery, and
// the one to answer it with: retrying the same bytes cannot succeed.
const StatusUnstorable = 422

// Delivery is one inbound webhook as received, with what verification and
// parsing made of it.
type Delivery struct {
	Source     string
	DeliveryID string // platform delivery id; "" when the platform has none
	ReceivedAt time.Time
	Headers    map[string]string
	Body       []byte
	Verified   bool
	// Rejected deliveries are stored for audit only, with this outcome,
	// status and error.
	Outcome string
	Status  int
	Err     error
	Events  []order.Event
	// Flagged items were stored with the delivery but not mapped.
	Flagged []platforms.Flag
	// Sanitized says the platform's connector already replaced text it
	// could not parse as sent (see platforms.Delivery).
	Sanitized bool
}

// Result is what became of a delivery once committed.
type Result struct {
	Outcome    string
	Accepted   int
	Duplicates int
	// Sanitized is set when text of the delivery had to be changed to be
	// stored (see pgtext); the audit row says so too.
	Sanitized bool
}

// ErrClosed is returned once the committer stopped taking deliveries.
var ErrClosed = errors.New("ingest: shutting down")

// ErrUnstorable is matched (errors.Is) by the error of a delivery that
// PostgreSQL refused even on its own, once its batch was split to find it:
// a value out of range, a key too long for its index, a constraint. Its
// batch neighbours were committed without it, and its audit row says
// "unstorable". The error is permanent: answer it with StatusUnstorable,
// not 503, or the sender will retry it forever.
var ErrUnstorable = errors.New("ingest: delivery cannot be stored")

// CheckText reports the first string in v that PostgreSQL could not store
// as text or jsonb: not UTF-8, or holding NUL. field is its path by JSON
// names, relative to v: "data.receiver.name" for an event,
// "[2].data.receiver.name" for a list of events (so "events"+field is the
// path in a batch body). err is then an *order.FieldError naming it (it
// matches order.ErrInvalid), for a connector that would rather answer 400
// than have the committer replace the bad bytes; both are zero when
// everything is storable.
func CheckText(v any) (field string, err error) {
	var pe *pgtext.Error
	if !errors.As(pgtext.Check(v), &pe) {
		return "", nil
	}
	return pe.Path, &order.FieldError{Field: pe.Path, Reason: pe.Reason}
}

// Options tune group commit.
type Options struct {
	// BatchWait is how long a lone delivery waits for company; deliveries
	// that queue while a commit runs join the next one without waiting.
	BatchWait time.Duration
	// MaxBatchEvents caps events per commit.
	MaxBatchEvents int
	// Workers is the number of commits in flight at once.
	Workers int
	// StoreBodies keeps raw bodies of accepted deliveries; rejected
	// deliveries always keep theirs (up to 64 KiB) for audit.
	StoreBodies bool
	// CommitTimeout bounds each commit, so a hung database fails the
	// batch (and its senders retry) instead of stopping the committer;
	// 10s when zero.
	CommitTimeout time.Duration
}

// DefaultCommitTimeout is Options.CommitTimeout when unset.
const DefaultCommitTimeout = 10 * time.Second

// Committer runs the group-commit loop.
type Committer struct {
	db   *bun.DB
	bus  events.Bus
	m    *metrics.Metrics
	log  *slog.Logger
	opts Options

	in      chan *pending
	mu      sync.RWMutex
	closed  bool
	stopped chan struct{}
}

type pending struct {
	d *Delivery // a storable copy of what was submitted
	// errText is d.Err's message, storable.
	errText   *string
	sanitized bool
	done      chan outcome
}

type outcome struct {
	res Result
	err error
}

// New builds a committer; call Run, then Close to drain.
func New(db *bun.DB, bus events.Bus, m *metrics.Metrics, log *slog.Logger, opts Options) *Committer {
	if opts.MaxBatchEvents <= 0 {
		opts.MaxBatchEvents = 5000
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.CommitTimeout <= 0 {
		opts.CommitTimeout = DefaultCommitTimeout
	}
	return &Committer{
		db: db, bus: bus, m: m, log: log.With("component", "ingest"), opts: opts,
		in:      make(chan *pending, 8192),
		stopped: make(chan struct{}),
	}
}

// Submit queues d for the next commit and waits until it is durable, or
// until ctx ends: then it returns ctx's error, and the delivery may still
// be committed (a retry of it is then acknowledged as a duplicate). Submit
// does not modify d; what is stored is d with its text made storable (see
// pgtext), flagged in Result.Sanitized.
func (c *Committer) Submit(ctx context.Context, d *Delivery) (Result, error) {
	p := prepare(d)
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return Result{}, ErrClosed
	}
	c.m.IngestQueue.Inc()
	select {
	case c.in <- p:
	case <-ctx.Done():
		c.mu.RUnlock()
		c.m.IngestQueue.Dec()
		return Result{}, fmt.Errorf("ingest: queue: %w", ctx.Err())
	}
	c.mu.RUnlock()
	if p.sanitized {
		c.log.Warn("webhook text replaced to be storable", "source", p.d.Source, "delivery_id", p.d.DeliveryID)
	}
	select {
	case o := <-p.done:
		return o.res, o.err
	case <-ctx.Done():
		return Result{}, fmt.Errorf("ingest: wait for commit: %w", ctx.Err())
	}
}

// prepare copies d with every text value a sender controls made storable:
// a NUL or a byte that is not UTF-8 in one delivery would otherwise fail
// the whole transaction it shares. The body is bytea and stays raw.
func prepare(d *Delivery) *pending {
	cp := *d
	p := &pending{d: &cp, done: make(chan outcome, 1), sanitized: d.Sanitized}
	var changed [6]bool
	cp.Source, changed[0] = pgtext.Clean(d.Source)
	cp.DeliveryID, changed[1] = pgtext.Clean(d.DeliveryID)
	cp.Headers, changed[2] = pgtext.Clean(d.Headers)
	cp.Events, changed[3] = pgtext.Clean(d.Events)
	cp.Flagged, changed[4] = pgtext.Clean(d.Flagged)
	if d.Err != nil {
		var s string
		s, changed[5] = pgtext.Clean(d.Err.Error())
		p.errText = &s
	}
	for _, ch := range changed {
		p.sanitized = p.sanitized || ch
	}
	return p
}

// Run commits batches until Close is called and the queue is drained.
func (c *Committer) Run() {
	var wg sync.WaitGroup
	for range c.opts.Workers {
		wg.Go(c.loop)
	}
	wg.Wait()
	close(c.stopped)
}

// Close stops taking deliveries and waits for queued ones to commit.
func (c *Committer) Close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.in)
	}
	c.mu.Unlock()
	<-c.stopped
}

func (c *Committer) loop() {
	for {
		first, ok := <-c.in
		if !ok {
			return
		}
		batch := []*pending{first}
		n := len(first.d.Events)
		var timer <-chan time.Time
		if c.opts.BatchWait > 0 {
			timer = time.After(c.opts.BatchWait)
		}
	collect:
		for n < c.opts.MaxBatchEvents {
			select {
			case p, ok := <-c.in:
				if !ok {
					break collect
				}
				batch = append(batch, p)
				n += len(p.d.Events)
			default:
				if timer == nil {
					break collect
				}
				select {
				case p, ok := <-c.in:
					if !ok {
						break collect
					}
					batch = append(batch, p)
					n += len(p.d.Events)
				case <-timer:
					break collect
				}
			}
		}
		c.m.IngestQueue.Sub(float64(len(batch)))
		c.commitBatch(batch)
	}
}

func (c *Committer) commitBatch(batch []*pending) {
	start := time.Now()
	c.settle(batch)
	c.m.IngestCommit.Observe(time.Since(start).Seconds())
	c.m.IngestBatchDeliver.Observe(float64(len(batch)))
}

// settle commits batch and answers each delivery. When PostgreSQL refuses
// the batch for something a delivery carries, the culprit is found by
// committing each half on its own, down to single deliveries: the others
// are committed, and only the culprit fails, permanently. Any other error
// (the database is down or slow, a deadlock) fails the whole batch, and
// the senders retry.
func (c *Committer) settle(batch []*pending) {
	results, err := c.commitWithin(batch)
	switch {
	case err == nil:
		for i, p := range batch {
			p.done <- outcome{res: results[i]}
		}
	case !refusedForData(err):
		c.log.Error("group commit failed", "deliveries", len(batch), "err", err)
		for _, p := range batch {
			p.done <- outcome{err: err}
		}
	case len(batch) == 1:
		c.refuseUnstorable(batch[0], err)
	default:
		c.log.Warn("group commit refused; committing halves to find the delivery at fault", "deliveries", len(batch), "err", err)
		mid := len(batch) / 2
		c.settle(batch[:mid])
		c.settle(batch[mid:])
	}
}

func (c *Committer) commitWithin(batch []*pending) ([]Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.CommitTimeout)
	defer cancel()
	return c.commit(ctx, batch)
}

// refuseUnstorable answers p, which PostgreSQL refused on its own, with
// ErrUnstorable, after storing its audit row alone (raw body included) so
// the delivery can still be inspected and replayed once the cause is fixed.
func (c *Committer) refuseUnstorable(p *pending, cause error) {
	c.log.Error("webhook cannot be stored", "source", p.d.Source, "delivery_id", p.d.DeliveryID, "err", cause)
	err := fmt.Errorf("%w: %w", ErrUnstorable, cause)
	d := *p.d
	d.Outcome, d.Status, d.Events, d.Flagged = OutcomeUnstorable, StatusUnstorable, nil, nil
	msg := pgtext.String(cause.Error())
	audit := &pending{d: &d, errText: &msg, sanitized: p.sanitized, done: p.done}
	res, aerr := c.commitWithin([]*pending{audit})
	if aerr != nil {
		c.log.Error("unstorable webhook not audited", "source", p.d.Source, "delivery_id", p.d.DeliveryID, "err", aerr)
		p.done <- outcome{err: err}
		return
	}
	p.done <- outcome{res: res[0], err: err}
}

// refusedForData reports whether err is PostgreSQL refusing a value, as
// opposed to failing: a data exception (class 22), an integrity constraint
// (23) or a limit such as an index row too large (54). Those follow the
// data, so committing the same rows again fails again.
func refusedForData(err error) bool {
	if errors.Is(err, errUnencodable) {
		return true
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}

// errUnencodable marks a value of a delivery that could not be encoded as
// JSON: like a refused value, it follows the delivery.
var errUnencodable = errors.New("cannot encode")

func (c *Committer) commit(ctx context.Context, batch []*pending) ([]Result, error) {
	in, err := c.statementArgs(batch)
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(batch))
	var newEvents []order.Event
	err = c.db.RunInTx(ctx, nil, func(ctx context.Context, btx bun.Tx) error {
		tx := btx.Tx
		newEvents = newEvents[:0]
		rows, err := tx.QueryContext(ctx, storeSQL, in.args...)
		if err != nil {
			return fmt.Errorf("store %d deliveries: %w", len(batch), err)
		}
		defer rows.Close()
		var fresh []int32
		for rows.Next() {
			var isEvent bool
			var i, acc, dup int32
			var outcome string
			if err := rows.Scan(&isEvent, &i, &outcome, &acc, &dup); err != nil {
				return fmt.Errorf("store deliveries: %w", err)
			}
			if isEvent {
				fresh = append(fresh, i)
				continue
			}
			results[i] = Result{Outcome: outcome, Accepted: int(acc), Duplicates: int(dup), Sanitized: batch[i].sanitized}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store deliveries: %w", err)
		}
		rows.Close()

		// Publish the new events in this same transaction, in key order.
		for _, k := range fresh {
			newEvents = append(newEvents, *in.events[k])
		}
		slices.SortFunc(newEvents, func(a, b order.Event) int {
			return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.ID, b.ID))
		})
		// One message per partition of the bus (one on PostgreSQL), keyed
		// by order so that each order's events stay in order while
		// partitions are projected in parallel.
		msgs, err := partitionMessages(newEvents, c.bus.Partitions())
		if err != nil {
			return err
		}
		if len(msgs) > 0 {
			if err := c.bus.PublishTx(ctx, tx, events.TopicOrderEvents, msgs...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: commit %d deliveries: %w", len(batch), err)
	}
	c.m.IngestBatchEvents.Observe(float64(len(newEvents)))
	if len(newEvents) > 0 {
		c.m.EventsPublished.WithLabelValues(events.TopicOrderEvents).Inc()
	}
	for _, e := range newEvents {
		c.m.EventsStored.WithLabelValues(e.Source).Inc()
	}
	return results, nil
}

// storeSQL stores a batch in one statement, so a commit costs the server
// three round trips (begin, this, the bus message) and its commit, however
// many deliveries share it: a single-event webhook's latency, and so what
// a sender waiting for its answer can send, is mostly round trips.
//
// Deliveries ($1..$15, in batch order) get their audit row; those with a
// delivery id not seen earlier in the batch (receipt) claim it in
// webhook_receipts, and one already claimed there is a duplicate. The
// events ($16..$25) of the others, first occurrence of each key in batch
// order, are inserted in key order, so that concurrent commits take
// unique-index locks in one order instead of deadlocking; an event already
// stored is a duplicate. The result has a row per delivery (false, its
// index, outcome, accepted, duplicates) and per new event (true, its index).
const storeSQL = `
WITH d AS MATERIALIZED (
	SELECT t.*, nextval('webhook_deliveries_id_seq') AS id
	FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::jsonb[], $5::bytea[], $6::boolean[], $7::smallint[],
		$8::text[], $9::text[], $10::jsonb[], $11::int[], $12::boolean[], $13::int[], $14::boolean[], $15::boolean[])
		WITH ORDINALITY AS t(source, delivery_id, received_at, headers, body, verified, status,
			given, error, flags, events_flagged, sanitized, events, receipt, dup, i)
), rec AS (
	INSERT INTO webhook_receipts (source, delivery_id, delivery_pk, received_at)
	SELECT source, delivery_id, id, received_at FROM d WHERE receipt
	ORDER BY source, delivery_id
	ON CONFLICT DO NOTHING
	RETURNING delivery_pk
), pick AS MATERIALIZED (
	SELECT DISTINCT ON (e.source, e.event_id) e.*, d.id AS delivery_pk, d.received_at
	FROM unnest($16::int[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[],
		$23::timestamptz[], $24::boolean[], $25::jsonb[])
		WITH ORDINALITY AS e(del, source, event_id, kind, system, channel, order_no, occurred_at, recovered, data, k)
	JOIN d ON d.i = e.del
	WHERE NOT d.receipt OR d.id IN (SELECT delivery_pk FROM rec)
	ORDER BY e.source, e.event_id, e.k
), ins AS (
	INSERT INTO order_events (source, event_id, kind, system, channel, order_no, occurred_at, received_at, delivery_pk, recovered, data)
	SELECT source, event_id, kind, system, channel, order_no, occurred_at, received_at, delivery_pk, recovered, data
	FROM pick ORDER BY source, event_id
	ON CONFLICT (source, event_id) DO NOTHING
	RETURNING source, event_id, delivery_pk
), acc AS (
	SELECT delivery_pk, count(*)::int AS n FROM ins GROUP BY delivery_pk
), verdict AS (
	SELECT d.*, coalesce(acc.n, 0) AS accepted,
		CASE
			WHEN d.given <> '' THEN d.given
			WHEN d.dup OR (d.receipt AND d.id NOT IN (SELECT delivery_pk FROM rec)) OR (acc.n IS NULL AND d.events > 0) THEN 'duplicate'
			ELSE 'accepted'
		END AS outcome
	FROM d LEFT JOIN acc ON acc.delivery_pk = d.id
), del AS (
	INSERT INTO webhook_deliveries (id, source, delivery_id, received_at, headers, body, verified, status, outcome, error,
		events_accepted, events_duplicate, flags, events_flagged, sanitized)
	SELECT id, source, delivery_id, received_at, headers, body, verified, status, outcome, error,
		accepted, CASE WHEN given <> '' THEN 0 ELSE events - accepted END, flags, events_flagged, sanitized
	FROM verdict
	RETURNING id, outcome, events_accepted, events_duplicate
)
SELECT false, (d.i - 1)::int, del.outcome, del.events_accepted, del.events_duplicate FROM del JOIN d USING (id)
UNION ALL
SELECT true, (pick.k - 1)::int, '', 0, 0 FROM ins JOIN pick USING (source, event_id)`

// statement is storeSQL's parameters, and the events its event rows
// list, by position.
type statement struct {
	args   []any
	events []*order.Event
}

const maxAuditBody = 64 << 10

// statementArgs lays batch out as storeSQL's arrays. Deliveries refused
// before the committer, and repeats of a delivery id earlier in the batch,
// list no events.
func (c *Committer) statementArgs(batch []*pending) (*statement, error) {
	n := len(batch)
	var (
		src, hdr, given        = make([]string, n), make([]string, n), make([]string, n)
		did, errs, flags       = make([]*string, n), make([]*string, n), make([]*string, n)
		at                     = make([]time.Time, n)
		body                   = make([][]byte, n)
		ver, sanitized         = make([]bool, n), make([]bool, n)
		receipt, dup           = make([]bool, n), make([]bool, n)
		status, nflag, nevents = make([]int32, n), make([]int32, n), make([]int32, n)
		eDel                   []int32
		eSrc, eID, eKind, eSys []string
		eCh, eNo, eData        []string
		eAt                    []time.Time
		eRecov                 []bool
		st                     = &statement{}
	)
	type rk struct{ source, id string }
	seen := map[rk]bool{}
	for i, p := range batch {
		d := p.d
		h, err := json.Marshal(d.Headers)
		if err != nil {
			return nil, fmt.Errorf("encode headers: %w: %w", errUnencodable, err)
		}
		src[i], hdr[i], given[i], at[i], ver[i], sanitized[i] = d.Source, string(h), d.Outcome, d.ReceivedAt, d.Verified, p.sanitized
		if d.DeliveryID != "" {
			did[i] = &d.DeliveryID
		}
		b := d.Body
		switch {
		case d.Outcome != "" && len(b) > maxAuditBody:
			b = b[:maxAuditBody]
		case d.Outcome == "" && !c.opts.StoreBodies:
			b = nil
		}
		if b == nil {
			b = []byte{}
		}
		body[i] = b
		status[i] = int32(d.Status)
		if d.Outcome == "" {
			status[i] = 200
		}
		errs[i] = p.errText
		nevents[i] = int32(len(d.Events))
		if len(d.Flagged) > 0 {
			fb, err := json.Marshal(d.Flagged)
			if err != nil {
				return nil, fmt.Errorf("encode flags: %w: %w", errUnencodable, err)
			}
			f := string(fb)
			flags[i], nflag[i] = &f, int32(len(d.Flagged))
		}
		if d.Outcome != "" {
			continue
		}
		// Delivery-id dedupe: first in batch wins, then the receipts table.
		if d.DeliveryID != "" {
			k := rk{d.Source, d.DeliveryID}
			if seen[k] {
				dup[i] = true
				continue
			}
			seen[k] = true
			receipt[i] = true
		}
		for j := range d.Events {
			e := &d.Events[j]
			data, err := json.Marshal(e.Data)
			if err != nil {
				return nil, fmt.Errorf("encode event %s data: %w: %w", e.ID, errUnencodable, err)
			}
			eDel = append(eDel, int32(i+1))
			eSrc, eID, eKind, eSys = append(eSrc, e.Source), append(eID, e.ID), append(eKind, string(e.Kind)), append(eSys, string(e.System))
			eCh, eNo, eData = append(eCh, e.Order.Channel), append(eNo, e.Order.OrderNo), append(eData, string(data))
			eAt, eRecov = append(eAt, e.OccurredAt), append(eRecov, e.Recovered)
			st.events = append(st.events, e)
		}
	}
	st.args = []any{src, did, at, hdr, body, ver, status, given, errs, flags, nflag, sanitized, nevents, receipt, dup,
		eDel, eSrc, eID, eKind, eSys, eCh, eNo, eAt, eRecov, eData}
	return st, nil
}

// partitionMessages splits a commit's new events into one bus message per
// partition (PartitionOf the order key among n), each keyed by one of its
// orders (all of which share its partition), in the events' order.
func partitionMessages(evs []order.Event, n int) ([]*message.Message, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	if n <= 1 {
		msg, err := events.NewMessage(events.OrderEventsBatch{Events: evs})
		if err != nil {
			return nil, err
		}
		return []*message.Message{msg}, nil
	}
	parts := map[int][]order.Event{}
	var seen []int
	for _, e := range evs {
		p := events.PartitionOf(e.Order.String(), n)
		if _, ok := parts[p]; !ok {
			seen = append(seen, p)
		}
		parts[p] = append(parts[p], e)
	}
	out := make([]*message.Message, 0, len(seen))
	for _, p := range seen {
		msg, err := events.NewMessage(events.OrderEventsBatch{Events: parts[p]})
		if err != nil {
			return nil, err
		}
		msg.Metadata.Set(events.MetaPartitionKey, parts[p][0].Order.String())
		out = append(out, msg)
	}
	return out, nil
}
