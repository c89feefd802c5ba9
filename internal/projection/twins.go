// Package projection builds read models from the bus. Twins folds each batch
// of new canonical events into the orders' twins, keeps the per-stage counts,
// and publishes what changed, all in one transaction: a redelivered batch
// finds every event already on its twin and changes nothing.
package projection

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/alerts"
	"github.com/towerhq/tower/internal/detection"
	"github.com/towerhq/tower/internal/figures"
	"github.com/towerhq/tower/internal/ingest"
	"github.com/towerhq/tower/internal/metrics"
)

// HandlerName names the twin projection on the router and in metrics.
const HandlerName = "twin_projection"

// ConsumerGroup is shared by every node: one of them applies each batch.
const ConsumerGroup = "twin-projection"

// Twins is the twin projection.
type Twins struct {
	detect     *detection.Detector
	figures    *figures.Rollups
	readAheadN int // messages a handler folds in (see Handle)
	// ahead is the bus's view of the messages after the one handled; nil
	// when it has none or no read-ahead is asked for.
	ahead events.Lookahead
	// deliveries folds concurrent deliveries into one transaction.
	deliveries group
	skipped    skippedList

	db  *bun.DB
	bus events.Bus
	// folded and applies serve the read-ahead (see Handle).
	folded  foldedSet
	applies atomic.Int64
	m       *metrics.Metrics
	log     *slog.Logger
	now     func() time.Time
}

// Options tunes the projection.
type Options struct {
	// Detect, when set, evaluates the rules on every change in the same
	// transaction.
	Detect *detection.Detector
	// ReadAhead is how many following messages a handler folds in (0: none).
	ReadAhead int
	// Figures, when set, keeps the figure rollups of every change in the
	// same transaction.
	Figures *figures.Rollups
}

// NewTwins builds the projection; now is the injected clock (projected_at).
func NewTwins(db *bun.DB, bus events.Bus, m *metrics.Metrics, log *slog.Logger, now func() time.Time, o Options) *Twins {
	p := &Twins{db: db, bus: bus, m: m, log: log.With("handler", HandlerName), now: now,
		detect: o.Detect, figures: o.Figures, readAheadN: o.ReadAhead}
	if la, ok := bus.(events.Lookahead); ok && o.ReadAhead > 0 {
		p.ahead = la
	}
	return p
}

// Register adds the projection to r.
func (p *Twins) Register(r *message.Router) error {
	sub, err := p.bus.Subscriber(ConsumerGroup)
	if err != nil {
		return err
	}
	r.AddConsumerHandler(HandlerName, events.TopicOrderEvents, sub, p.Handle)
	return nil
}

// Handle applies one OrderEventsBatch.
func (p *Twins) Handle(msg *message.Message) error {
	// Read ahead: fold the events of the next committed messages into this
	// transaction too. Their own deliveries then find them folded and
	// change nothing, so a burst of small ingest commits costs one
	// projection transaction per ReadAhead messages, not one each. A
	// message already folded is not even decoded.
	if p.ahead != nil {
		// Folded by this process: known without asking the database.
		if p.folded.take(msg.UUID) {
			p.skipped.add(msg.UUID)
			return nil
		}
		// Folded by another node, or before a restart: a read, no write.
		var done bool
		if err := p.db.QueryRowContext(msg.Context(), `SELECT EXISTS (SELECT 1 FROM projected_messages WHERE uuid = ?)`, msg.UUID).Scan(&done); err != nil {
			return fmt.Errorf("project %s: %w", msg.UUID, err)
		}
		if done {
			p.skipped.add(msg.UUID)
			return nil
		}
	}
	var batch events.OrderEventsBatch
	if err := json.Unmarshal(msg.Payload, &batch); err != nil {
		return fmt.Errorf("%w: decode %s message %s: %v", events.ErrPermanent, events.TopicOrderEvents, msg.UUID, err)
	}
	d := &delivery{msg: msg, evs: batch.Events}
	if err := p.deliveries.submit(d, p.project); err != nil {
		return fmt.Errorf("project batch %s (%d events): %w", msg.UUID, len(batch.Events), err)
	}
	return nil
}

// project applies the deliveries of one group in one transaction, with
// what follows each of them on the bus when it can see that. Should
// the transaction fail for a reason other than an outage, each delivery
// is applied alone, so a bad neighbour is parked on its own and never
// takes the others with it.
func (p *Twins) project(ds []*delivery) {
	ctx := ds[0].msg.Context()
	var evs []order.Event
	for _, d := range ds {
		evs = append(evs, d.evs...)
	}
	var ahead []string
	if p.ahead != nil {
		more, uuids := p.readAheadOf(ctx, ds)
		evs, ahead = append(evs, more...), uuids
	}
	changes, err := p.apply(ctx, evs, ahead)
	if err != nil && (len(ahead) > 0 || len(ds) > 1) && events.Classify(err) != events.Transient {
		for _, d := range ds {
			var n int
			if n, d.err = p.apply(d.msg.Context(), d.evs, nil); d.err == nil {
				p.settle(d.msg.Context(), n)
			}
		}
		return
	}
	for _, d := range ds {
		d.err = err
	}
	if err == nil {
		p.folded.add(ahead)
		p.settle(ctx, changes)
	}
}

// settle counts a projection transaction that changed twins, and cleans
// up the read-ahead records now and then.
func (p *Twins) settle(ctx context.Context, changes int) {
	if changes > 0 {
		p.m.EventsPublished.WithLabelValues(events.TopicTwinChanges).Inc()
	}
	if p.ahead != nil && p.applies.Add(1)%cleanupEvery == 0 {
		p.ForgetDelivered(ctx)
	}
}

// maxReadAheadEvents bounds the events one projection transaction takes on.
const maxReadAheadEvents = 5000

// cleanupEvery is how many projection transactions pass between two
// clean-ups of projected_messages.
const cleanupEvery = 200

// readAheadOf reads ahead of each delivery of a group (on a partitioned
// bus each is from a partition of its own; on one ordered topic there is
// one), in parallel, sharing the events cap.
func (p *Twins) readAheadOf(ctx context.Context, ds []*delivery) ([]order.Event, []string) {
	following := make([][]*message.Message, len(ds))
	errs := make([]error, len(ds))
	read := func(i int) {
		following[i], errs[i] = p.ahead.Following(ctx, events.TopicOrderEvents, ds[i].msg, p.readAheadN)
	}
	if len(ds) == 1 {
		read(0) // one ordered topic: every transaction, no goroutine
	} else {
		var wg sync.WaitGroup
		for i := range ds {
			wg.Go(func() { read(i) })
		}
		wg.Wait()
	}
	if err := errors.Join(errs...); err != nil {
		// Only a shortcut lost: the messages come on their own.
		p.log.Warn("read ahead", "err", err)
	}
	var out []order.Event
	var uuids []string
	seen := map[string]bool{}
	for _, d := range ds {
		seen[d.msg.UUID] = true
	}
	for _, m := range slices.Concat(following...) {
		if seen[m.UUID] {
			continue
		}
		seen[m.UUID] = true
		var batch events.OrderEventsBatch
		if err := json.Unmarshal(m.Payload, &batch); err != nil {
			continue // a bad message is handled (and poisoned) on its own delivery
		}
		out, uuids = append(out, batch.Events...), append(uuids, m.UUID)
		if len(out) >= maxReadAheadEvents {
			break
		}
	}
	return out, uuids
}

// ForgetDelivered deletes the read-ahead records of messages whose own
// delivery has come, and those older than a day (left by a restart). A
// record is only a shortcut: a message applied again changes nothing.
func (p *Twins) ForgetDelivered(ctx context.Context) {
	uuids := p.skipped.drain()
	if _, err := p.db.ExecContext(ctx, `DELETE FROM projected_messages WHERE uuid = ANY(?) OR at < ?`,
		pgdialect.Array(uuids), p.now().Add(-24*time.Hour)); err != nil {
		p.log.Warn("clean up read-ahead records", "err", err)
	}
}

// skippedList collects the folded messages whose deliveries came.
type skippedList struct {
	mu    sync.Mutex
	uuids []string
}

func (l *skippedList) add(u string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.uuids) < maxFolded {
		l.uuids = append(l.uuids, u)
	}
}

func (l *skippedList) drain() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.uuids
	l.uuids = nil
	return u
}

// foldedSet remembers the messages this process folded into an earlier
// transaction until their own delivery comes. Bounded: a message whose
// delivery went to another node would otherwise stay forever, and
// forgetting one only costs a database read.
type foldedSet struct {
	mu sync.Mutex
	m  map[string]struct{}
}

const maxFolded = 100_000

func (f *foldedSet) add(uuids []string) {
	if len(uuids) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil || len(f.m)+len(uuids) > maxFolded {
		f.m = make(map[string]struct{}, len(uuids))
	}
	for _, u := range uuids {
		f.m[u] = struct{}{}
	}
}

func (f *foldedSet) take(uuid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.m[uuid]; ok {
		delete(f.m, uuid)
		return true
	}
	return false
}

type row struct {
	ID    int64
	Stage string
	Twin  []byte
	Tags  []string
}

// Apply folds es into their twins in one transaction and returns how many
// twins changed. Events that do not name their order fully are resolved
// (by order number or tracking number) or parked until their order is
// known; parked events whose order appears in this batch are applied too.
func (p *Twins) Apply(ctx context.Context, es []order.Event) (int, error) {
	return p.apply(ctx, es, nil)
}

// apply is Apply that also records the messages it read ahead (ahead), in
// the same transaction.
func (p *Twins) apply(ctx context.Context, es []order.Event, ahead []string) (int, error) {
	changed := 0
	err := p.db.RunInTx(ctx, nil, func(ctx context.Context, btx bun.Tx) error {
		tx := btx.Tx
		// The projection is derived state, and the bus acknowledges the
		// message in a later, synchronously committed transaction: its WAL
		// flush covers this commit too, so waiting for our own flush buys
		// nothing.
		if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return fmt.Errorf("projection: %w", err)
		}
		now := p.now().UTC()
		if len(ahead) > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO projected_messages (uuid, at) SELECT u, $2 FROM unnest($1::text[]) u ON CONFLICT DO NOTHING`, ahead, now); err != nil {
				return fmt.Errorf("projection: record read-ahead: %w", err)
			}
		}
		w := &work{tx: tx, btx: btx, loaded: map[order.Key]*loadedTwin{}, keepBefore: p.figures != nil}
		pending := es
		for round := 0; len(pending) > 0 && round < 4; round++ {
			resolved, err := p.resolve(ctx, w, pending, now)
			if err != nil {
				return err
			}
			if err := w.apply(ctx, resolved); err != nil {
				return err
			}
			// What this round taught (tracking numbers, new orders) may
			// release parked events.
			if pending, err = w.learn(ctx, now); err != nil {
				return err
			}
		}
		n, err := p.write(ctx, w, now)
		changed = n
		return err
	})
	if err != nil {
		return 0, err
	}
	return changed, nil
}

// loadedTwin is a twin read (and locked) in this transaction.
type loadedTwin struct {
	t *twin.Twin
	// before is the twin as stored, for the figures' delta (nil when new
	// or when no figures are kept).
	before  *twin.Twin
	row     row
	found   bool // existed before this transaction
	changed bool
	learnt  string // tracking number already recorded
	// shop and warehouse as stored, so its alerts follow a change.
	shop, warehouse string
	// fresh are the events this transaction added to the twin.
	fresh []order.Event
}

type work struct {
	tx     *sql.Tx
	btx    bun.Tx
	loaded map[order.Key]*loadedTwin
	// refsResolved are events stored without their order, now resolved:
	// their order_events rows get the order key.
	refsResolved []order.Event
	keepBefore   bool
}

// apply folds events into their (locked) twins.
func (w *work) apply(ctx context.Context, es []order.Event) error {
	byKey := map[order.Key][]order.Event{}
	for _, e := range es {
		byKey[e.Order] = append(byKey[e.Order], e)
	}
	var missing []order.Key
	for k := range byKey {
		if _, ok := w.loaded[k]; !ok {
			missing = append(missing, k)
		}
	}
	slices.SortFunc(missing, compareKeys)
	if len(missing) > 0 {
		existing, err := lockTwins(ctx, w.tx, missing)
		if err != nil {
			return err
		}
		for _, k := range missing {
			lt := &loadedTwin{t: twin.New(k)}
			if r, ok := existing[k]; ok {
				if err := json.Unmarshal(r.Twin, lt.t); err != nil {
					return fmt.Errorf("decode twin %s: %w", k, err)
				}
				lt.row, lt.found, lt.learnt = r, true, lt.t.Details.TrackingNo
				lt.shop, lt.warehouse = lt.t.Details.Shop, lt.t.Details.Warehouse
				if w.keepBefore {
					lt.before = lt.t.Clone()
				}
			}
			w.loaded[k] = lt
		}
	}
	for k, evs := range byKey {
		lt := w.loaded[k]
		seen := make(map[[2]string]bool, len(lt.t.Timeline))
		for _, e := range lt.t.Timeline {
			seen[[2]string{e.Source, e.EventID}] = true
		}
		for _, e := range evs {
			id := [2]string{e.Source, e.ID}
			if !seen[id] {
				seen[id] = true
				lt.fresh = append(lt.fresh, e)
			}
		}
		if lt.t.ApplyAll(evs) || !lt.found {
			lt.changed = true
		}
	}
	return nil
}

// write stores every changed twin, the stage counts and the change message.
func (p *Twins) write(ctx context.Context, w *work, now time.Time) (int, error) {
	// The stored events are ingest's: it records what the projection learnt.
	if err := ingest.RecordResolvedOrders(ctx, w.tx, w.refsResolved); err != nil {
		return 0, err
	}
	keys := slices.SortedFunc(maps.Keys(w.loaded), compareKeys)
	var (
		chs, nos, stages, docs []string
		tails                  []string
		figureChanges          []figures.Change
		created, updated       []time.Time
		twins                  []*twin.Twin
		raws                   []json.RawMessage
		delta                  = map[twin.Stage]int64{}
	)
	for _, k := range keys {
		lt := w.loaded[k]
		if !lt.changed {
			continue
		}
		t := lt.t
		doc, err := json.Marshal(t)
		if err != nil {
			return 0, fmt.Errorf("encode twin %s: %w", k, err)
		}
		if lt.found {
			delta[twin.Stage(lt.row.Stage)]--
		}
		delta[t.Stage]++
		chs, nos, stages, docs = append(chs, k.Channel), append(nos, k.OrderNo), append(stages, string(t.Stage)), append(docs, string(doc))
		raws = append(raws, doc)
		created, updated = append(created, t.CreatedAt), append(updated, t.UpdatedAt)
		twins = append(twins, t)
		tail := ""
		if t.Details.Receiver != nil {
			tail = t.Details.Receiver.PhoneTail()
		}
		tails = append(tails, tail)
		figureChanges = append(figureChanges, figures.Change{Before: lt.before, After: t})
	}
	if len(twins) == 0 {
		return 0, nil
	}
	ids, tags, err := upsertTwins(ctx, w.tx, chs, nos, stages, docs, tails, created, updated, now)
	if err != nil {
		return 0, err
	}
	var moved []alerts.Moved
	for _, t := range twins {
		lt := w.loaded[t.Key]
		if lt.found && (lt.shop != t.Details.Shop || lt.warehouse != t.Details.Warehouse) {
			moved = append(moved, alerts.Moved{Order: t.Key, Shop: t.Details.Shop, Warehouse: t.Details.Warehouse})
		}
	}
	if err := alerts.FollowOrders(ctx, w.btx, moved); err != nil {
		return 0, err
	}
	if p.figures != nil {
		if err := p.figures.Apply(ctx, w.tx, figureChanges); err != nil {
			return 0, err
		}
	}
	counts, err := applyStageDelta(ctx, w.tx, delta)
	if err != nil {
		return 0, err
	}
	snap := events.TwinChanges{Backlog: events.Backlog{Counts: counts, At: now}}
	for i, t := range twins {
		snap.Twins = append(snap.Twins, events.TwinSnapshot{ID: ids[i], Twin: t, Tags: tags[i], Doc: raws[i]})
	}
	if p.detect != nil {
		var changes []detection.Change
		for _, k := range keys {
			if lt := w.loaded[k]; lt.changed && len(lt.fresh) > 0 {
				changes = append(changes, detection.Change{Twin: lt.t, Events: lt.fresh})
			}
		}
		out, err := p.detect.Process(ctx, w.btx, changes, now)
		if err != nil {
			return 0, fmt.Errorf("detect: %w", err)
		}
		// Detection says which tags to add; orders are the projection's to write.
		tags, err := addTags(ctx, w.tx, out.AddTags)
		if err != nil {
			return 0, err
		}
		for i := range snap.Twins {
			if t, ok := tags[snap.Twins[i].Twin.Key]; ok {
				snap.Twins[i].Tags = t
			}
		}
		snap.Alerts, snap.WorkItems = out.Alerts, out.WorkItems
		if err := detection.Publish(ctx, p.bus, w.tx, out, false); err != nil {
			return 0, err
		}
	}
	payload, err := snap.Encode()
	if err != nil {
		return 0, fmt.Errorf("encode twin changes: %w", err)
	}
	if err := p.bus.PublishTx(ctx, w.tx, events.TopicTwinChanges, events.NewRawMessage(payload)); err != nil {
		return 0, err
	}
	return len(twins), nil
}

func compareKeys(a, b order.Key) int {
	return cmp.Or(cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.OrderNo, b.OrderNo))
}

func lockTwins(ctx context.Context, tx *sql.Tx, keys []order.Key) (map[order.Key]row, error) {
	chs := make([]string, len(keys))
	nos := make([]string, len(keys))
	for i, k := range keys {
		chs[i], nos[i] = k.Channel, k.OrderNo
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT o.id, o.channel, o.order_no, o.stage, o.twin, o.tags
		FROM orders o JOIN unnest($1::text[], $2::text[]) AS k(channel, order_no) USING (channel, order_no)
		ORDER BY o.channel, o.order_no
		FOR UPDATE OF o`, chs, nos)
	if err != nil {
		return nil, fmt.Errorf("lock %d twins: %w", len(keys), err)
	}
	defer rows.Close()
	out := make(map[order.Key]row, len(keys))
	for rows.Next() {
		var r row
		var k order.Key
		if err := rows.Scan(&r.ID, &k.Channel, &k.OrderNo, &r.Stage, &r.Twin, pgdialect.Array(&r.Tags)); err != nil {
			return nil, fmt.Errorf("lock twins: %w", err)
		}
		out[k] = r
	}
	return out, rows.Err()
}

func upsertTwins(ctx context.Context, tx *sql.Tx, chs, nos, stages, docs, tails []string, created, updated []time.Time, now time.Time) ([]int64, [][]string, error) {
	rows, err := tx.QueryContext(ctx, `
		WITH input AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[], $6::timestamptz[], $8::text[])
				WITH ORDINALITY AS t(channel, order_no, stage, twin, created_at, updated_at, phone_tail, n)
		), up AS (
			INSERT INTO orders (channel, order_no, stage, twin, created_at, updated_at, projected_at, phone_tail)
			SELECT channel, order_no, stage, twin, created_at, updated_at, $7, phone_tail FROM input
			ON CONFLICT (channel, order_no) DO UPDATE SET
				stage = excluded.stage, twin = excluded.twin, created_at = excluded.created_at,
				updated_at = excluded.updated_at, projected_at = excluded.projected_at,
				phone_tail = excluded.phone_tail, version = orders.version + 1
			RETURNING id, channel, order_no, tags
		)
		SELECT up.id, up.tags FROM up JOIN input USING (channel, order_no) ORDER BY input.n`,
		chs, nos, stages, docs, created, updated, now, tails)
	if err != nil {
		return nil, nil, fmt.Errorf("store %d twins: %w", len(chs), err)
	}
	defer rows.Close()
	ids := make([]int64, 0, len(chs))
	tags := make([][]string, 0, len(chs))
	for rows.Next() {
		var id int64
		var t []string
		if err := rows.Scan(&id, pgdialect.Array(&t)); err != nil {
			return nil, nil, fmt.Errorf("store twins: %w", err)
		}
		ids, tags = append(ids, id), append(tags, t)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("store twins: %w", err)
	}
	if len(ids) != len(chs) {
		return nil, nil, fmt.Errorf("store twins: %d rows back for %d twins", len(ids), len(chs))
	}
	return ids, tags, nil
}

func applyStageDelta(ctx context.Context, tx *sql.Tx, delta map[twin.Stage]int64) (map[twin.Stage]int64, error) {
	var st []string
	var d []int64
	for _, s := range twin.Stages {
		if v := delta[s]; v != 0 {
			st, d = append(st, string(s)), append(d, v)
		}
	}
	if len(st) > 0 {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO stage_counts (stage, count) SELECT * FROM unnest($1::text[], $2::bigint[])
			ON CONFLICT (stage) DO UPDATE SET count = stage_counts.count + excluded.count`, st, d); err != nil {
			return nil, fmt.Errorf("update stage counts: %w", err)
		}
	}
	return readCounts(ctx, tx)
}

func readCounts(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[twin.Stage]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT stage, count FROM stage_counts`)
	if err != nil {
		return nil, fmt.Errorf("read stage counts: %w", err)
	}
	defer rows.Close()
	counts := make(map[twin.Stage]int64, len(twin.Stages))
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("read stage counts: %w", err)
		}
		counts[twin.Stage(s)] = n
	}
	return counts, rows.Err()
}
