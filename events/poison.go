package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/uptrace/bun"

	"github.com/towerhq/tower/internal/metrics"
)

// Metadata keys Tower adds to retried messages (see also MetaAttempts).
const (
	// MetaOriginTopic and MetaOriginHandler name where a retried message
	// was first parked from: it travels on TopicRedrive, under another
	// handler name.
	MetaOriginTopic   = "origin_topic"
	MetaOriginHandler = "origin_handler"
	// MetaRedriveGroup is the one consumer group a retried message is for.
	MetaRedriveGroup = "redrive_group"
	// MetaRedriveOf is the id of the parked message it retries.
	MetaRedriveOf = "redrive_of"

	// The resolution of a parked message, recorded on its poison queue row.
	metaResolution = "resolution"
	metaResolvedBy = "resolved_by"
	metaResolvedAt = "resolved_at"
	metaRetriedAs  = "retried_as"
)

// notCarried are the metadata keys a retried message does not inherit:
// they describe the parking, or are set afresh.
var notCarried = []string{
	middleware.ReasonForPoisonedKey, middleware.PoisonedTopicKey, middleware.PoisonedHandlerKey, middleware.PoisonedSubscriberKey,
	MetaAttempts, MetaPublishedAt, MetaUnackedDeliveries, metaResolution, metaResolvedBy, metaResolvedAt, metaRetriedAs,
}

// redriveSuffix names a handler's companion on TopicRedrive.
const redriveSuffix = "_redrive"

// ParkStatus is where a parked message stands.
type ParkStatus struct{ s string }

var (
	// StatusParked: waiting for someone to retry or discard it.
	StatusParked = ParkStatus{"parked"}
	// StatusRetried: handed to its consumer group again (a new failure
	// parks it anew, under a new id).
	StatusRetried = ParkStatus{"retried"}
	// StatusDiscarded: dropped on purpose.
	StatusDiscarded = ParkStatus{"discarded"}
)

func (s ParkStatus) String() string { return s.s }
func (s ParkStatus) IsZero() bool   { return s.s == "" }

// ParseParkStatus reads a status name.
func ParseParkStatus(s string) (ParkStatus, error) {
	for _, st := range []ParkStatus{StatusParked, StatusRetried, StatusDiscarded} {
		if st.s == s {
			return st, nil
		}
	}
	return ParkStatus{}, fmt.Errorf("unknown status %q (parked, retried, discarded)", s)
}

// ErrParkedNotFound: no parked message has that id.
var ErrParkedNotFound = errors.New("poison queue: no such message")

// ResolvedError: the message was retried or discarded already.
type ResolvedError struct {
	ID     int64
	Status ParkStatus
	By     string
	At     time.Time
}

func (e *ResolvedError) Error() string {
	return fmt.Sprintf("poison queue: message %d was %s by %s at %s", e.ID, e.Status, e.By, e.At.Format(time.RFC3339))
}

// NotRetriableError: the message's handler has no durable consumer group to
// hand it back to (the live fan-out's group lives and dies with its node,
// and replaying an old twin to browsers would show them the past).
type NotRetriableError struct {
	ID      int64
	Handler string
}

func (e *NotRetriableError) Error() string {
	return fmt.Sprintf("poison queue: message %d of handler %s cannot be retried, only discarded", e.ID, e.Handler)
}

// Parked is a message on the poison queue.
type Parked struct {
	// ID is the message's position on the poison queue.
	ID          int64
	MessageUUID string
	// Topic and Handler are where it failed (for a retried message, where
	// it was first published and handled).
	Topic, Handler string
	// ConsumerGroup is the handler's durable group, "" when it has none
	// (then the message can only be discarded).
	ConsumerGroup string
	Reason        string
	// Attempts is how many times the handler ran, 0 when not recorded.
	Attempts int
	ParkedAt time.Time
	Status   ParkStatus
	// ResolvedAt and ResolvedBy say who retried or discarded it, and when.
	ResolvedAt *time.Time
	ResolvedBy string
	// RetryOf is the parked message this one is a failed retry of (0: none).
	RetryOf int64
	// Payload is the message's payload; in a listing, its first
	// listPayloadBytes only (enough for a preview).
	Payload  []byte
	metadata map[string]string
}

// Retriable reports whether Retry can take the message.
func (p Parked) Retriable() bool { return p.Status == StatusParked && p.ConsumerGroup != "" }

// PoisonQueue shows the poison queue and hands parked messages back to
// the handler that failed on them, or discards them. On the PostgreSQL bus
// the queue is the poison topic's table; a row's resolution is recorded in
// its metadata, so the evidence stays where it was parked.
type PoisonQueue struct {
	db  *bun.DB
	bus Bus
	m   *metrics.Metrics
	log *slog.Logger
	now func() time.Time
	// groups maps each retriable handler to its durable consumer group.
	groups map[string]string

	mu     sync.Mutex
	topics map[string]bool // gauge labels set so far
}

// NewPoisonQueue reads the poison queue in db. durable maps each handler
// whose messages can be retried to its consumer group: the groups shared
// by every node, that read their topic from where they left off.
func NewPoisonQueue(db *bun.DB, bus Bus, m *metrics.Metrics, log *slog.Logger, now func() time.Time, durable map[string]string) *PoisonQueue {
	return &PoisonQueue{db: db, bus: bus, m: m, log: log.With("component", "poison"), now: now,
		groups: maps.Clone(durable), topics: map[string]bool{}}
}

// RegisterRedrive gives every durable handler on r a companion that
// consumes TopicRedrive as the handler's own consumer group and passes it
// the messages retried for that group, through the same middleware: a
// retry that fails again is parked again with its new error.
//
// A retried message is not published on its original topic again, because
// every consumer group of that topic would get it: the projection would
// absorb the duplicate (it is idempotent per event), but the notifier would
// send an alert twice and a live fan-out would push a stale twin to
// browsers. On TopicRedrive each group skips what is not addressed to it.
// Call it once every handler is added, before the router runs.
func (q *PoisonQueue) RegisterRedrive(r *message.Router) error {
	handlers := r.Handlers()
	for _, name := range slices.Sorted(maps.Keys(q.groups)) {
		group := q.groups[name]
		h, ok := handlers[name]
		if !ok {
			return fmt.Errorf("poison queue: redrive %s: no such handler on the router", name)
		}
		sub, err := q.bus.Subscriber(group)
		if err != nil {
			return fmt.Errorf("poison queue: redrive %s: %w", name, err)
		}
		r.AddConsumerHandler(name+redriveSuffix, TopicRedrive, sub, func(msg *message.Message) error {
			if msg.Metadata.Get(MetaRedriveGroup) != group {
				return nil // retried for another group
			}
			_, err := h(msg)
			return err
		})
	}
	return nil
}

// SQL over the poison topic's table.
const (
	poisonTable = `"watermill_` + TopicPoison + `"`
	// A retried message parked again carries where it first failed.
	topicExpr   = `coalesce(metadata->>'` + MetaOriginTopic + `', metadata->>'` + middleware.PoisonedTopicKey + `')`
	handlerExpr = `coalesce(metadata->>'` + MetaOriginHandler + `', metadata->>'` + middleware.PoisonedHandlerKey + `')`
	parkedCond  = `metadata->>'` + metaResolution + `' IS NULL`
	// The queue's timestamps are stored without a zone, in the server's.
	parkedColumns = `"offset", uuid, created_at::timestamptz, metadata::text`
)

// listPayloadBytes is how much of each payload a listing reads.
const listPayloadBytes = 4096

// ParkedFilter selects parked messages; zero fields select everything.
type ParkedFilter struct {
	Topic  string
	Status ParkStatus
	// Before pages: only messages with a smaller id.
	Before int64
	Limit  int
}

// List returns parked messages, newest first, each with the first
// listPayloadBytes of its payload.
func (q *PoisonQueue) List(ctx context.Context, f ParkedFilter) ([]Parked, error) {
	where, args := []string{"true"}, []any{}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.Topic != "" {
		where = append(where, topicExpr+` = `+arg(f.Topic))
	}
	switch f.Status {
	case ParkStatus{}:
	case StatusParked:
		where = append(where, parkedCond)
	default:
		where = append(where, `metadata->>'`+metaResolution+`' = `+arg(f.Status.s))
	}
	if f.Before > 0 {
		where = append(where, `"offset" < `+arg(f.Before))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	query := `SELECT ` + parkedColumns + `, left(payload::text, ` + strconv.Itoa(listPayloadBytes) + `)
		FROM ` + poisonTable + ` WHERE ` + joinAnd(where) + ` ORDER BY "offset" DESC LIMIT ` + arg(limit)
	rows, err := q.db.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("poison queue: list: %w", err)
	}
	defer rows.Close()
	var out []Parked
	for rows.Next() {
		p, err := q.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("poison queue: list: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("poison queue: list: %w", err)
	}
	return out, nil
}

func joinAnd(conds []string) string {
	s := conds[0]
	for _, c := range conds[1:] {
		s += " AND " + c
	}
	return s
}

// Get returns one parked message with its whole payload.
func (q *PoisonQueue) Get(ctx context.Context, id int64) (Parked, error) {
	return q.get(ctx, q.db.DB, id, false)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (q *PoisonQueue) get(ctx context.Context, db queryer, id int64, lock bool) (Parked, error) {
	query := `SELECT ` + parkedColumns + `, payload::text FROM ` + poisonTable + ` WHERE "offset" = $1`
	if lock {
		query += ` FOR UPDATE`
	}
	p, err := q.scan(db.QueryRowContext(ctx, query, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Parked{}, ErrParkedNotFound
	}
	if err != nil {
		return Parked{}, fmt.Errorf("poison queue: read %d: %w", id, err)
	}
	return p, nil
}

func (q *PoisonQueue) scan(row interface{ Scan(...any) error }) (Parked, error) {
	var (
		p             Parked
		meta, payload string
	)
	if err := row.Scan(&p.ID, &p.MessageUUID, &p.ParkedAt, &meta, &payload); err != nil {
		return Parked{}, err
	}
	p.Payload = []byte(payload)
	if err := json.Unmarshal([]byte(meta), &p.metadata); err != nil {
		return Parked{}, fmt.Errorf("metadata of %d: %w", p.ID, err)
	}
	md := message.Metadata(p.metadata)
	p.Topic, p.Handler = md.Get(MetaOriginTopic), md.Get(MetaOriginHandler)
	if p.Topic == "" {
		p.Topic = md.Get(middleware.PoisonedTopicKey)
	}
	if p.Handler == "" {
		p.Handler = md.Get(middleware.PoisonedHandlerKey)
	}
	p.ConsumerGroup = q.groups[p.Handler]
	p.Reason = md.Get(middleware.ReasonForPoisonedKey)
	p.Attempts, _ = strconv.Atoi(md.Get(MetaAttempts))
	p.RetryOf, _ = strconv.ParseInt(md.Get(MetaRedriveOf), 10, 64)
	p.Status = StatusParked
	if r := md.Get(metaResolution); r != "" {
		st, err := ParseParkStatus(r)
		if err != nil {
			return Parked{}, fmt.Errorf("resolution of %d: %w", p.ID, err)
		}
		p.Status, p.ResolvedBy = st, md.Get(metaResolvedBy)
		if at, err := time.Parse(time.RFC3339Nano, md.Get(metaResolvedAt)); err == nil {
			p.ResolvedAt = &at
		}
	}
	return p, nil
}

// Count returns how many messages are parked now, on topic or on all
// topics when topic is "".
func (q *PoisonQueue) Count(ctx context.Context, topic string) (int, error) {
	var n int
	err := q.db.DB.QueryRowContext(ctx, `SELECT count(*) FROM `+poisonTable+` WHERE `+parkedCond+` AND ($1 = '' OR `+topicExpr+` = $1)`, topic).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("poison queue: count: %w", err)
	}
	return n, nil
}

// Discard drops a parked message for good, recording who and when.
func (q *PoisonQueue) Discard(ctx context.Context, id int64, actor string) (Parked, error) {
	var p Parked
	err := q.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if p, err = q.claim(ctx, tx, id); err != nil {
			return err
		}
		return q.resolve(ctx, tx, &p, StatusDiscarded, actor, "")
	})
	if err != nil {
		return Parked{}, err
	}
	q.resolved(ctx, p)
	return p, nil
}

// Retry hands a parked message back to the consumer group of the handler
// that failed on it (see RegisterRedrive), recording who and when. The
// message is published in the transaction that marks it retried: it is
// retried once, or not at all.
func (q *PoisonQueue) Retry(ctx context.Context, id int64, actor string) (Parked, error) {
	var p Parked
	err := q.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if p, err = q.claim(ctx, tx, id); err != nil {
			return err
		}
		return q.redrive(ctx, tx, &p, actor)
	})
	if err != nil {
		return Parked{}, err
	}
	q.resolved(ctx, p)
	return p, nil
}

// retryBatch bounds the messages one transaction of RetryTopic retries.
const retryBatch = 100

// RetryTopic retries every retriable message parked from topic, a batch
// per transaction. skipped counts what is still parked from topic after:
// messages whose handler cannot retry them (and any parked meanwhile).
func (q *PoisonQueue) RetryTopic(ctx context.Context, topic, actor string) (retried, skipped int, err error) {
	handlers := slices.Sorted(maps.Keys(q.groups))
	// Only what is parked now: a retry failing again while this runs is
	// parked anew, and must not be picked up again here.
	var last int64
	if err := q.db.DB.QueryRowContext(ctx, `SELECT coalesce(max("offset"), 0) FROM `+poisonTable).Scan(&last); err != nil {
		return 0, 0, fmt.Errorf("poison queue: retry %s: %w", topic, err)
	}
	for {
		var batch []Parked
		err := q.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			batch = batch[:0]
			rows, err := tx.Tx.QueryContext(ctx, `SELECT `+parkedColumns+`, payload::text FROM `+poisonTable+`
				WHERE `+parkedCond+` AND `+topicExpr+` = $1 AND `+handlerExpr+` = ANY($2::text[]) AND "offset" <= $3
				ORDER BY "offset" LIMIT $4 FOR UPDATE SKIP LOCKED`, topic, handlers, last, retryBatch)
			if err != nil {
				return fmt.Errorf("poison queue: retry %s: %w", topic, err)
			}
			for rows.Next() {
				p, err := q.scan(rows)
				if err != nil {
					rows.Close()
					return fmt.Errorf("poison queue: retry %s: %w", topic, err)
				}
				batch = append(batch, p)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("poison queue: retry %s: %w", topic, err)
			}
			for i := range batch {
				if err := q.redrive(ctx, tx, &batch[i], actor); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return retried, 0, err
		}
		for _, p := range batch {
			q.resolved(ctx, p)
		}
		retried += len(batch)
		if len(batch) < retryBatch {
			break
		}
	}
	left, err := q.Count(ctx, topic)
	return retried, left, err
}

// claim locks a parked message that is still parked.
func (q *PoisonQueue) claim(ctx context.Context, tx bun.Tx, id int64) (Parked, error) {
	p, err := q.get(ctx, tx.Tx, id, true)
	if err != nil {
		return Parked{}, err
	}
	if p.Status != StatusParked {
		e := &ResolvedError{ID: id, Status: p.Status, By: p.ResolvedBy}
		if p.ResolvedAt != nil {
			e.At = *p.ResolvedAt
		}
		return Parked{}, e
	}
	return p, nil
}

// redrive publishes p on TopicRedrive for its handler's group and marks it
// retried, in tx.
func (q *PoisonQueue) redrive(ctx context.Context, tx bun.Tx, p *Parked, actor string) error {
	if p.ConsumerGroup == "" {
		return &NotRetriableError{ID: p.ID, Handler: p.Handler}
	}
	// A new uuid: the retry is a new delivery, and the projection's
	// read-ahead looks the original up by uuid on its topic.
	msg := message.NewMessage(watermill.NewUUID(), p.Payload)
	for k, v := range p.metadata {
		if !slices.Contains(notCarried, k) {
			msg.Metadata.Set(k, v)
		}
	}
	msg.Metadata.Set(MetaOriginTopic, p.Topic)
	msg.Metadata.Set(MetaOriginHandler, p.Handler)
	msg.Metadata.Set(MetaRedriveGroup, p.ConsumerGroup)
	msg.Metadata.Set(MetaRedriveOf, strconv.FormatInt(p.ID, 10))
	if err := q.bus.PublishTx(ctx, tx.Tx, TopicRedrive, msg); err != nil {
		return fmt.Errorf("poison queue: retry %d: %w", p.ID, err)
	}
	return q.resolve(ctx, tx, p, StatusRetried, actor, msg.UUID)
}

// resolve records p's resolution on its row.
func (q *PoisonQueue) resolve(ctx context.Context, tx bun.Tx, p *Parked, st ParkStatus, actor, retriedAs string) error {
	at := q.now().UTC()
	res := map[string]string{metaResolution: st.s, metaResolvedBy: actor, metaResolvedAt: at.Format(time.RFC3339Nano)}
	if retriedAs != "" {
		res[metaRetriedAs] = retriedAs
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("poison queue: %s %d: %w", st, p.ID, err)
	}
	if _, err := tx.Tx.ExecContext(ctx, `UPDATE `+poisonTable+` SET metadata = (coalesce(metadata::jsonb, '{}') || $2::jsonb)::json
		WHERE "offset" = $1`, p.ID, string(b)); err != nil {
		return fmt.Errorf("poison queue: %s %d: %w", st, p.ID, err)
	}
	p.Status, p.ResolvedBy, p.ResolvedAt = st, actor, &at
	return nil
}

// resolved reports a committed resolution.
func (q *PoisonQueue) resolved(ctx context.Context, p Parked) {
	q.m.PoisonResolved.WithLabelValues(p.Topic, p.Status.s).Inc()
	q.log.Info("parked message "+p.Status.s, "id", p.ID, "message_uuid", p.MessageUUID, "topic", p.Topic,
		"handler", p.Handler, "by", p.ResolvedBy)
	if err := q.RefreshGauge(ctx); err != nil && ctx.Err() == nil {
		q.log.Warn("refresh the poison queue gauge", "err", err)
	}
}

// RefreshGauge sets the parked-messages gauge from the queue: every node
// reports the same cluster-wide numbers.
func (q *PoisonQueue) RefreshGauge(ctx context.Context) error {
	rows, err := q.db.DB.QueryContext(ctx, `SELECT `+topicExpr+`, count(*) FROM `+poisonTable+` WHERE `+parkedCond+` GROUP BY 1`)
	if err != nil {
		return fmt.Errorf("poison queue: count: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var topic sql.NullString
		var n int
		if err := rows.Scan(&topic, &n); err != nil {
			return fmt.Errorf("poison queue: count: %w", err)
		}
		counts[topic.String] += n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("poison queue: count: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for t := range counts {
		q.topics[t] = true
	}
	for t := range q.topics {
		q.m.PoisonParked.WithLabelValues(t).Set(float64(counts[t]))
	}
	return nil
}

// KeepGauge refreshes the gauge now and every interval until ctx ends, so
// parkings on other nodes and their resolutions show here too.
func (q *PoisonQueue) KeepGauge(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := q.RefreshGauge(ctx); err != nil && ctx.Err() == nil {
			q.log.Warn("refresh the poison queue gauge", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
