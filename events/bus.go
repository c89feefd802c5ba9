// Package events is Tower's event bus on Watermill: topics, the
// transactional publish that makes an acknowledged webhook impossible to
// lose, and the router with its reliability middleware.
//
// The backend sits behind Bus: the default SQL Pub/Sub on PostgreSQL
// (PostgresBus), or NATS JetStream (NATSBus), where PublishTx writes an
// outbox table in the same transaction and a forwarder moves it to the
// broker after commit.
package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Topics. Versioned so a changed payload can live beside the old one.
const (
	// TopicOrderEvents carries batches of newly stored canonical events
	// (payload: OrderEventsBatch), one message per ingest commit.
	TopicOrderEvents = "order_events_v1"
	// TopicTwinChanges carries twins changed by one projection commit and
	// the backlog counts after it (payload: TwinChanges).
	TopicTwinChanges = "twin_changes_v1"
	// TopicAlerts carries alerts raised or changed (payload: AlertChanges),
	// for the notifier.
	TopicAlerts = "alerts_v1"
	// TopicPoison parks messages a handler could not process after retries.
	TopicPoison = "poison_v1"
	// TopicRedrive carries parked messages retried for one consumer group
	// (see PoisonQueue.RegisterRedrive).
	TopicRedrive = "poison_redrive_v1"
)

// MetaPublishedAt is the metadata key holding the publish time (unix nanos),
// used to measure handler lag.
const MetaPublishedAt = "published_at"

// Bus is the seam between Tower and a Watermill backend.
type Bus interface {
	// PublishTx publishes inside tx: the messages exist if and only if tx commits.
	PublishTx(ctx context.Context, tx *sql.Tx, topic string, msgs ...*message.Message) error
	// Publisher publishes outside any transaction (poison queue).
	Publisher() message.Publisher
	// Subscriber consumes topics as the given consumer group: each group
	// sees every message once; members of a group share them.
	Subscriber(group string) (message.Subscriber, error)
	// Tail consumes topic from its newest message on, as a group of this
	// process alone (the live fan-out): nothing older is delivered.
	Tail(ctx context.Context, topic, group string) (message.Subscriber, error)
	// Ping checks the backend is reachable (readiness).
	Ping(ctx context.Context) error
	Logger() watermill.LoggerAdapter
	// Partitions is how many ordered partitions a topic has: messages whose
	// MetaPartitionKey falls in one partition (PartitionOf) are delivered in
	// order, partitions in parallel. 1 when the backend keeps one order.
	Partitions() int
}

// Lookahead is a bus on which a handler can see the messages committed
// after the one it handles, in the order they will be delivered: it may
// fold them into its own transaction, and their deliveries then find
// nothing left to do. The PostgreSQL bus is one (a topic is a table); a
// broker that hands out one message per partition at a time is not.
type Lookahead interface {
	// Following returns up to n messages of topic to be delivered after
	// msg, in delivery order, taking only those whose place in that order
	// is final (none when msg is unknown).
	Following(ctx context.Context, topic string, msg *message.Message, n int) ([]*message.Message, error)
}

// PostgresBus is Watermill's SQL Pub/Sub on Tower's own PostgreSQL. The
// tables come from migrations; nothing is created at run time.
type PostgresBus struct {
	db     *sql.DB
	logger watermill.LoggerAdapter
	schema wsql.DefaultPostgreSQLSchema
	pub    message.Publisher
	// PollInterval bounds delivery latency when the topic is idle.
	PollInterval time.Duration
}

// NewPostgresBus builds the default backend on db.
func NewPostgresBus(db *sql.DB, log *slog.Logger) (*PostgresBus, error) {
	b := &PostgresBus{
		db:     db,
		logger: quietShutdown{watermill.NewSlogLoggerWithLevelMapping(log.With("component", "bus"), map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})},
		// The subscriber holds one transaction open across a batch, and an
		// open transaction holds back the visibility horizon of every
		// consumer on the server (watermill-sql orders by xid8): keep
		// batches short. A crash redelivers at most one batch, which the
		// idempotent handlers absorb.
		schema:       wsql.DefaultPostgreSQLSchema{SubscribeBatchSize: 10},
		PollInterval: 20 * time.Millisecond,
	}
	pub, err := wsql.NewPublisher(wsql.BeginnerFromStdSQL(db), wsql.PublisherConfig{SchemaAdapter: b.schema}, b.logger)
	if err != nil {
		return nil, fmt.Errorf("bus: publisher: %w", err)
	}
	b.pub = pub
	return b, nil
}

func (b *PostgresBus) Logger() watermill.LoggerAdapter { return b.logger }

// Partitions is 1: a topic is one table, read in commit order.
func (b *PostgresBus) Partitions() int { return 1 }

func (b *PostgresBus) PublishTx(ctx context.Context, tx *sql.Tx, topic string, msgs ...*message.Message) error {
	pub, err := wsql.NewPublisher(wsql.TxFromStdSQL(tx), wsql.PublisherConfig{SchemaAdapter: b.schema}, b.logger)
	if err != nil {
		return fmt.Errorf("bus: tx publisher: %w", err)
	}
	now := strconv.FormatInt(time.Now().UnixNano(), 10)
	for _, m := range msgs {
		m.SetContext(ctx)
		if m.Metadata.Get(MetaPublishedAt) == "" {
			m.Metadata.Set(MetaPublishedAt, now)
		}
	}
	if err := pub.Publish(topic, msgs...); err != nil {
		return fmt.Errorf("bus: publish %s: %w", topic, err)
	}
	return nil
}

func (b *PostgresBus) Publisher() message.Publisher { return b.pub }

// Following reads the rows after uuid in the subscribers' order
// (transaction id, offset). Only rows of transactions older than every
// running one are taken: a younger transaction may still commit before
// them, and the subscriber would deliver it first.
func (b *PostgresBus) Following(ctx context.Context, topic string, msg *message.Message, n int) ([]*message.Message, error) {
	uuid := msg.UUID
	table := fmt.Sprintf(`"watermill_%s"`, topic)
	// The position first, then a range scan from it: bounds known only at
	// run time would make the planner walk the whole table.
	var xid string
	var offset int64
	if err := b.db.QueryRowContext(ctx, `SELECT transaction_id::text, "offset" FROM `+table+` WHERE uuid = $1 LIMIT 1`, uuid).Scan(&xid, &offset); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, fmt.Errorf("bus: position of %s on %s: %w", uuid, topic, err)
	}
	rows, err := b.db.QueryContext(ctx, `
		SELECT uuid, payload FROM `+table+`
		WHERE (transaction_id, "offset") > ($1::xid8, $2)
			AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY transaction_id, "offset" LIMIT $3`, xid, offset, n)
	if err != nil {
		return nil, fmt.Errorf("bus: messages after %s on %s: %w", uuid, topic, err)
	}
	defer rows.Close()
	var out []*message.Message
	for rows.Next() {
		var u string
		var p []byte
		if err := rows.Scan(&u, &p); err != nil {
			return nil, fmt.Errorf("bus: messages after %s on %s: %w", uuid, topic, err)
		}
		out = append(out, message.NewMessage(u, p))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("bus: messages after %s on %s: %w", uuid, topic, err)
	}
	return out, nil
}

// Tail seeks group to the end of topic, then subscribes as it.
func (b *PostgresBus) Tail(ctx context.Context, topic, group string) (message.Subscriber, error) {
	if err := seekToEnd(ctx, b.db, topic, group); err != nil {
		return nil, err
	}
	return b.Subscriber(group)
}

func (b *PostgresBus) Subscriber(group string) (message.Subscriber, error) {
	ack := 30 * time.Second
	sub, err := wsql.NewSubscriber(ackBeginner{wsql.BeginnerFromStdSQL(b.db)}, wsql.SubscriberConfig{
		ConsumerGroup:  group,
		PollInterval:   b.PollInterval,
		ResendInterval: 200 * time.Millisecond,
		RetryInterval:  time.Second,
		AckDeadline:    &ack,
		SchemaAdapter:  b.schema,
		OffsetsAdapter: wsql.DefaultPostgreSQLOffsetsAdapter{},
	}, b.logger)
	if err != nil {
		return nil, fmt.Errorf("bus: subscriber %s: %w", group, err)
	}
	return sub, nil
}

// ackBeginner gives the subscribers' transactions asynchronous commit when
// they wrote (the ack that moves a consumer group's offset). Losing the
// last acks in a crash only redelivers those messages, which every handler
// absorbs; and since WAL is flushed in order, an ack that survives implies
// the handler's writes before it did too. Without it every ack of every
// consumer waits for its own WAL flush, the commits of the ingest queue
// behind them.
type ackBeginner struct{ wsql.Beginner }

func (b ackBeginner) BeginTx(ctx context.Context, opts *sql.TxOptions) (wsql.Tx, error) {
	tx, err := b.Beginner.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &ackTx{Tx: tx, ctx: ctx}, nil
}

type ackTx struct {
	wsql.Tx
	ctx   context.Context
	wrote bool
}

func (t *ackTx) ExecContext(ctx context.Context, query string, args ...any) (wsql.Result, error) {
	t.wrote = true
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *ackTx) Commit() error {
	if t.wrote {
		if _, err := t.Tx.ExecContext(t.ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			_ = t.Tx.Rollback()
			return fmt.Errorf("bus: ack commit: %w", err)
		}
	}
	return t.Tx.Commit()
}

func (b *PostgresBus) Ping(ctx context.Context) error {
	// The bus is the watermill tables: reachable when one answers.
	var n int
	if err := b.db.QueryRowContext(ctx, `SELECT 1 FROM "watermill_order_events_v1" LIMIT 1`).Scan(&n); err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("bus: ping: %w", err)
	}
	return nil
}

// NewMessage builds a message with a JSON payload.
func NewMessage(v any) (*message.Message, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return message.NewMessage(watermill.NewUUID(), b), nil
}

// NewRawMessage builds a message around an already encoded payload.
func NewRawMessage(payload []byte) *message.Message {
	return message.NewMessage(watermill.NewUUID(), payload)
}

// PublishedAt reads the publish time a message carries, zero if none.
func PublishedAt(m *message.Message) time.Time {
	n, err := strconv.ParseInt(m.Metadata.Get(MetaPublishedAt), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, n)
}
