package events

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The NATS JetStream backend.
//
// Watermill's own NATS Pub/Sub (watermill-nats v2) is not used for
// consuming: its JetStream subscriber binds one consumer to one topic's
// subject (no fan-in of partition consumers under one group), its
// grouped consumer makes the stream a work queue (which allows one
// consumer group per stream, and Tower has several per topic), and it
// cannot keep a long handler's message alive with in-progress acks. Its
// header wire format (NATSMarshaler) is used, so Watermill's tools read
// Tower's messages.
//
// Layout: one stream per topic, <PREFIX>_<TOPIC>, on subjects
// <prefix>.<topic>.pNN, one per partition. A message goes to the
// partition of its MetaPartitionKey (partition 0 without one). A consumer
// group is one durable pull consumer per partition with MaxAckPending 1:
// the server hands out the next message of a partition only once the
// previous one is acknowledged, whichever node holds it, so messages of
// one key are handled in publish order across all nodes, while
// partitions proceed in parallel. (An ordered consumer would keep order
// too, but it is ephemeral and unacknowledged: no durable group, no
// redelivery.)
//
// PublishTx writes the bus_outbox table in the caller's transaction and
// notifies the forwarder, which every node runs; a partition is forwarded
// by one node at a time (an advisory lock), in outbox order, and its rows
// deleted once JetStream acknowledged them. A forward repeated after a
// crash carries the same Nats-Msg-Id (the Watermill uuid), which the
// stream's duplicate window drops.
//
// The poison queue stays in PostgreSQL (the topic's SQL table, as on the
// PostgreSQL bus): it is evidence read and resolved in place, and small.

// MetaPartitionKey is the metadata key publishers set to the key whose
// messages must stay in order (the order key): messages with the same key
// share a partition. Messages without one go to partition 0.
const MetaPartitionKey = "partition_key"

// MetaUnackedDeliveries is set on a message the broker delivered more than
// NATSOptions.MaxDeliver times without an acknowledgement (its handler
// timed out, or its node died, every time): the router parks it.
const MetaUnackedDeliveries = "unacked_deliveries"

// metaPayloadRef marks a message whose payload stayed in the outbox (too
// large for the broker): the value is its outbox id.
const metaPayloadRef = "payload_ref"

// natsTopics are the topics on JetStream (the poison queue is not).
var natsTopics = []string{TopicOrderEvents, TopicTwinChanges, TopicAlerts, TopicIncidents, TopicRedrive}

// NATSOptions configures NewNATSBus; zero fields take the defaults.
type NATSOptions struct {
	URL string
	// Prefix namespaces streams and subjects, so several deployments (or
	// test runs) share one NATS server. Default "tower".
	Prefix string
	// Name names the connection (the node), for the server's monitoring.
	Name string
	// Partitions per topic. Fixed for a deployment's lifetime: a message
	// key's partition must not move. Default 16.
	Partitions int
	// AckWait is how long a delivery may go without an ack or a progress
	// signal (sent every AckWait/3 while a handler runs) before the broker
	// redelivers it, e.g. to another node when this one died. Default 10s.
	AckWait time.Duration
	// MaxDeliver is how many unacknowledged deliveries a message gets
	// before the router parks it on the poison queue. Default 10.
	MaxDeliver int
	// Retention is how long streams keep messages (0: forever).
	Retention time.Duration
	// Poll bounds forwarding latency should a wake-up be missed. Default 1s.
	Poll time.Duration
}

func (o *NATSOptions) defaults() {
	if o.Prefix == "" {
		o.Prefix = "tower"
	}
	if o.Partitions <= 0 {
		o.Partitions = 16
	}
	if o.AckWait <= 0 {
		o.AckWait = 10 * time.Second
	}
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = 10
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
}

// NATSBus is the bus on NATS JetStream, with its outbox in PostgreSQL.
type NATSBus struct {
	db     *sql.DB
	nc     *nats.Conn
	js     jetstream.JetStream
	opts   NATSOptions
	log    *slog.Logger
	logger watermill.LoggerAdapter
	// poison publishes to the poison queue's SQL table.
	poison  message.Publisher
	marshal wnats.NATSMarshaler

	// peeks serve Following, per topic and partition.
	peekMu sync.Mutex
	peeks  map[string][]*peek

	wake     chan struct{}
	stop     context.CancelFunc
	done     sync.WaitGroup
	closeMu  sync.Mutex
	closed   bool
	closedCh chan struct{}
}

// NewNATSBus connects to NATS, creates the streams that are missing (and
// updates those whose settings changed), and starts forwarding the outbox
// in db until Close.
func NewNATSBus(ctx context.Context, db *sql.DB, log *slog.Logger, o NATSOptions) (*NATSBus, error) {
	o.defaults()
	b := &NATSBus{
		db: db, opts: o, log: log.With("component", "bus"),
		logger:   quietShutdown{watermill.NewSlogLoggerWithLevelMapping(log.With("component", "bus"), map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})},
		wake:     make(chan struct{}, 1),
		closedCh: make(chan struct{}),
	}
	pub, err := wsql.NewPublisher(wsql.BeginnerFromStdSQL(db), wsql.PublisherConfig{SchemaAdapter: wsql.DefaultPostgreSQLSchema{}}, b.logger)
	if err != nil {
		return nil, fmt.Errorf("bus: poison publisher: %w", err)
	}
	b.poison = pub
	nc, err := nats.Connect(o.URL,
		nats.Name("tower "+o.Name),
		nats.MaxReconnects(-1), // the broker coming back is the only way forward
		nats.ReconnectWait(500*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("nats: disconnected; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { b.log.Info("nats: reconnected", "server", c.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			// A slow consumer drops messages of a core subscription; pull
			// deliveries are redelivered after AckWait, so it costs time.
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			b.log.Warn("nats: asynchronous error", "subject", subj, "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closedCh) }),
	)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to nats: %w", err)
	}
	b.nc = nc
	if b.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	for _, t := range natsTopics {
		if err := b.ensureStream(ctx, t); err != nil {
			nc.Close()
			return nil, err
		}
	}
	fctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	b.stop = stop
	b.done.Add(2)
	go func() { defer b.done.Done(); b.listen(fctx) }()
	go func() { defer b.done.Done(); b.forward(fctx) }()
	return b, nil
}

// Prefix is the namespace of the bus's streams and subjects.
func (b *NATSBus) Prefix() string { return b.opts.Prefix }

func (b *NATSBus) streamName(topic string) string {
	return strings.ToUpper(b.opts.Prefix + "_" + topic)
}

func (b *NATSBus) subject(topic string, partition int) string {
	return fmt.Sprintf("%s.%s.p%02d", b.opts.Prefix, topic, partition)
}

func (b *NATSBus) ensureStream(ctx context.Context, topic string) error {
	_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      b.streamName(topic),
		Subjects:  []string{b.opts.Prefix + "." + topic + ".*"},
		Retention: jetstream.LimitsPolicy,
		MaxAge:    b.opts.Retention,
		Storage:   jetstream.FileStorage,
		// Wide enough to absorb a forward repeated after a node's restart.
		Duplicates: 10 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("bus: stream for %s: %w", topic, err)
	}
	return nil
}

// PartitionOf is the partition of a message key among n.
func PartitionOf(key string, n int) int {
	if key == "" || n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

func (b *NATSBus) Logger() watermill.LoggerAdapter { return b.logger }

func (b *NATSBus) Partitions() int { return b.opts.Partitions }

// outboxChannel is the NOTIFY channel that wakes the forwarders.
const outboxChannel = "tower_bus_outbox"

// outboxLock is the advisory lock space of outbox partitions: the second
// key is the partition.
const outboxLock = 0x6f627820 // "obx "

// PublishTx writes msgs to the outbox in tx; they reach JetStream after
// commit.
func (b *NATSBus) PublishTx(ctx context.Context, tx *sql.Tx, topic string, msgs ...*message.Message) error {
	now := strconv.FormatInt(time.Now().UnixNano(), 10)
	for _, m := range msgs {
		if m.Metadata.Get(MetaPublishedAt) == "" {
			m.Metadata.Set(MetaPublishedAt, now)
		}
		p := PartitionOf(m.Metadata.Get(MetaPartitionKey), b.opts.Partitions)
		meta, err := json.Marshal(m.Metadata)
		if err != nil {
			return fmt.Errorf("bus: publish %s: %w", topic, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO bus_outbox (subject, partition, uuid, payload, metadata) VALUES ($1, $2, $3, $4, $5)`,
			b.subject(topic, p), p, m.UUID, []byte(m.Payload), meta); err != nil {
			return fmt.Errorf("bus: publish %s: %w", topic, err)
		}
	}
	// Delivered at commit, and folded into one per transaction.
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, '')`, outboxChannel); err != nil {
		return fmt.Errorf("bus: publish %s: %w", topic, err)
	}
	return nil
}

// Publisher publishes outside any transaction: the poison queue goes to
// its SQL table, anything else straight to JetStream.
func (b *NATSBus) Publisher() message.Publisher { return natsPublisher{b} }

type natsPublisher struct{ b *NATSBus }

func (p natsPublisher) Publish(topic string, msgs ...*message.Message) error {
	if topic == TopicPoison {
		return p.b.poison.Publish(topic, msgs...)
	}
	for _, m := range msgs {
		part := PartitionOf(m.Metadata.Get(MetaPartitionKey), p.b.opts.Partitions)
		nm, err := p.b.marshal.Marshal(p.b.subject(topic, part), m)
		if err != nil {
			return fmt.Errorf("bus: publish %s: %w", topic, err)
		}
		ctx := m.Context()
		if _, err := p.b.js.PublishMsg(ctx, nm, jetstream.WithMsgID(m.UUID)); err != nil {
			return fmt.Errorf("bus: publish %s: %w", topic, err)
		}
	}
	return nil
}

func (natsPublisher) Close() error { return nil }

// Ping checks the connection and that JetStream answers.
func (b *NATSBus) Ping(ctx context.Context) error {
	if !b.nc.IsConnected() {
		return fmt.Errorf("bus: nats is %s", b.nc.Status())
	}
	if _, err := b.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("bus: jetstream: %w", err)
	}
	return nil
}

// Close stops forwarding (after one last pass) and drains the connection.
// Call it once the router has stopped.
func (b *NATSBus) Close() error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.stop()
	b.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.forwardAll(ctx); err != nil {
		b.log.Warn("bus: last forward before shutdown; another node or the next start forwards the rest", "err", err)
	}
	if err := b.nc.Drain(); err != nil {
		b.nc.Close()
		return fmt.Errorf("bus: drain nats: %w", err)
	}
	select {
	case <-b.closedCh:
	case <-time.After(10 * time.Second):
		b.nc.Close()
	}
	return nil
}

// listen wakes the forwarder on every commit that wrote the outbox.
func (b *NATSBus) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := b.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("bus: outbox notifications lost; polling until they come back", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (b *NATSBus) listenOnce(ctx context.Context) error {
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("listen: not a pgx connection (%T)", dc)
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, `LISTEN `+outboxChannel); err != nil {
			return fmt.Errorf("%w: listen: %v", driver.ErrBadConn, err)
		}
		b.kick() // what committed before LISTEN
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				// The connection stays LISTENing (or is broken): never
				// hand it back to the pool.
				return fmt.Errorf("%w: %v", driver.ErrBadConn, err)
			}
			b.kick()
		}
	})
}

func (b *NATSBus) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// forward moves the outbox to JetStream whenever woken, and every Poll.
func (b *NATSBus) forward(ctx context.Context) {
	t := time.NewTicker(b.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		case <-t.C:
		}
		if err := b.forwardAll(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("bus: forward the outbox; retrying", "err", err)
		}
	}
}

// forwardBatch bounds the rows one forwarding transaction takes.
const forwardBatch = 500

// forwardAll forwards every partition with rows waiting that no other node
// is forwarding.
func (b *NATSBus) forwardAll(ctx context.Context) error {
	rows, err := b.db.QueryContext(ctx, `SELECT DISTINCT partition FROM bus_outbox WHERE forwarded_at IS NULL`)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	var parts []int
	for rows.Next() {
		var p int
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return fmt.Errorf("outbox: %w", err)
		}
		parts = append(parts, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	var errs []error
	for _, p := range parts {
		for {
			n, err := b.forwardPartition(ctx, p)
			if err != nil {
				errs = append(errs, err)
				break
			}
			if n < forwardBatch {
				break
			}
		}
	}
	return errors.Join(errs...)
}

type outboxRow struct {
	id            int64
	subject, uuid string
	payload       []byte
	meta          []byte
}

// forwardPartition forwards up to forwardBatch rows of partition p, in
// order, and deletes them, in one transaction holding p's lock.
func (b *NATSBus) forwardPartition(ctx context.Context, p int) (int, error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("outbox p%02d: %w", p, err)
	}
	defer func() { _ = tx.Rollback() }()
	var mine bool
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1, $2)`, outboxLock, p).Scan(&mine); err != nil {
		return 0, fmt.Errorf("outbox p%02d: lock: %w", p, err)
	}
	if !mine {
		return 0, nil // another node is forwarding it
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, subject, uuid, payload, metadata FROM bus_outbox
		WHERE partition = $1 AND forwarded_at IS NULL ORDER BY id LIMIT $2`, p, forwardBatch)
	if err != nil {
		return 0, fmt.Errorf("outbox p%02d: %w", p, err)
	}
	var batch []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.id, &r.subject, &r.uuid, &r.payload, &r.meta); err != nil {
			rows.Close()
			return 0, fmt.Errorf("outbox p%02d: %w", p, err)
		}
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("outbox p%02d: %w", p, err)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	// Leave room for the headers under the server's limit.
	limit := int(b.nc.MaxPayload()) - 16<<10
	sent, kept := make([]int64, 0, len(batch)), []int64{}
	futures := make([]jetstream.PubAckFuture, 0, len(batch))
	for _, r := range batch {
		m := message.NewMessage(r.uuid, r.payload)
		if err := json.Unmarshal(r.meta, &m.Metadata); err != nil {
			return 0, fmt.Errorf("outbox p%02d: row %d: %w", p, r.id, err)
		}
		if len(r.payload) > limit {
			// Too large for the broker: the payload stays here, read by
			// the subscriber by reference.
			m.Payload = nil
			m.Metadata.Set(metaPayloadRef, strconv.FormatInt(r.id, 10))
			kept = append(kept, r.id)
		} else {
			sent = append(sent, r.id)
		}
		nm, err := b.marshal.Marshal(r.subject, m)
		if err != nil {
			return 0, fmt.Errorf("outbox p%02d: row %d: %w", p, r.id, err)
		}
		// One connection publishes in order, and the stream stores in the
		// order received: the partition's order holds.
		f, err := b.js.PublishMsgAsync(nm, jetstream.WithMsgID(r.uuid))
		if err != nil {
			return 0, fmt.Errorf("outbox p%02d: publish: %w", p, err)
		}
		futures = append(futures, f)
	}
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return 0, fmt.Errorf("outbox p%02d: publish: %w", p, err)
		case <-wait.Done():
			return 0, fmt.Errorf("outbox p%02d: publish: no acknowledgement from jetstream: %w", p, wait.Err())
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM bus_outbox WHERE id = ANY($1)`, sent); err != nil {
		return 0, fmt.Errorf("outbox p%02d: %w", p, err)
	}
	if len(kept) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE bus_outbox SET forwarded_at = now() WHERE id = ANY($1)`, kept); err != nil {
			return 0, fmt.Errorf("outbox p%02d: %w", p, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("outbox p%02d: %w", p, err)
	}
	return len(batch), nil
}

// PruneOutbox deletes payloads kept by reference longer than keep ago.
func (b *NATSBus) PruneOutbox(ctx context.Context, keep time.Duration) (int64, error) {
	if keep <= 0 {
		return 0, nil
	}
	res, err := b.db.ExecContext(ctx, `DELETE FROM bus_outbox WHERE forwarded_at < now() - make_interval(secs => $1)`, keep.Seconds())
	if err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	return res.RowsAffected()
}

// Subscriber consumes as a durable consumer group shared by every node.
func (b *NATSBus) Subscriber(group string) (message.Subscriber, error) {
	return b.newSubscriber(group, false), nil
}

// Tail consumes as a group of this process alone from the newest message
// on; the server removes the group's consumers once it is gone.
func (b *NATSBus) Tail(_ context.Context, _ string, group string) (message.Subscriber, error) {
	return b.newSubscriber(group, true), nil
}

func (b *NATSBus) newSubscriber(group string, tail bool) *natsSubscriber {
	return &natsSubscriber{b: b, group: group, tail: tail, closing: make(chan struct{})}
}

var invalidName = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// consumerName is the consumer of group on one partition.
func consumerName(group string, p int) string {
	return fmt.Sprintf("%s_p%02d", invalidName.ReplaceAllString(group, "_"), p)
}

// Unread is how many messages of topic the consumer group has not
// acknowledged yet, over every partition.
func (b *NATSBus) Unread(ctx context.Context, topic, group string) (int64, error) {
	s, err := b.js.Stream(ctx, b.streamName(topic))
	if err != nil {
		return 0, fmt.Errorf("unread %s for %s: %w", topic, group, err)
	}
	var n int64
	for p := range b.opts.Partitions {
		c, err := s.Consumer(ctx, consumerName(group, p))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			info, err := s.Info(ctx, jetstream.WithSubjectFilter(b.subject(topic, p)))
			if err != nil {
				return 0, fmt.Errorf("unread %s for %s: %w", topic, group, err)
			}
			n += int64(info.State.Subjects[b.subject(topic, p)])
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("unread %s for %s: %w", topic, group, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("unread %s for %s: %w", topic, group, err)
		}
		n += int64(info.NumPending) + int64(info.NumAckPending)
	}
	return n, nil
}

// natsSubscriber is one consumer group's subscriber: each Subscribe binds
// the group's consumers of a topic's partitions and merges their
// deliveries, one in flight per partition.
type natsSubscriber struct {
	b     *NATSBus
	group string
	tail  bool

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// maxHold is how many AckWaits a delivery is kept alive while its handler
// runs.
const maxHold = 30

// fetchWait is how long one pull waits for a message on an idle partition.
const fetchWait = 5 * time.Second

func (s *natsSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	b := s.b
	stream, err := b.js.Stream(ctx, b.streamName(topic))
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe %s: %w", topic, err)
	}
	consumers := make([]jetstream.Consumer, b.opts.Partitions)
	for p := range b.opts.Partitions {
		cfg := jetstream.ConsumerConfig{
			Durable:       consumerName(s.group, p),
			FilterSubject: b.subject(topic, p),
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       b.opts.AckWait,
			// Never dropped by the broker: past MaxDeliver the router
			// parks it, where it can be seen and retried.
			MaxDeliver:    -1,
			MaxAckPending: 1,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		}
		if s.tail {
			cfg.Durable, cfg.Name = "", consumerName(s.group, p)
			cfg.DeliverPolicy = jetstream.DeliverNewPolicy
			cfg.InactiveThreshold = time.Minute
		}
		if consumers[p], err = stream.CreateOrUpdateConsumer(ctx, cfg); err != nil {
			return nil, fmt.Errorf("bus: consumer %s of %s: %w", cfg.Durable+cfg.Name, topic, err)
		}
	}
	out := make(chan *message.Message)
	var parts sync.WaitGroup
	for p, c := range consumers {
		parts.Add(1)
		go func() {
			defer parts.Done()
			s.consume(ctx, topic, p, c, out)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		parts.Wait()
		close(out)
	}()
	return out, nil
}

func (s *natsSubscriber) stopped(ctx context.Context) bool {
	select {
	case <-s.closing:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// consume pulls partition p's messages one at a time.
func (s *natsSubscriber) consume(ctx context.Context, topic string, p int, c jetstream.Consumer, out chan<- *message.Message) {
	log := s.b.log.With("topic", topic, "group", s.group, "partition", p)
	for !s.stopped(ctx) {
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			if s.stopped(ctx) {
				return
			}
			log.Warn("bus: pull from jetstream; retrying", "err", err)
			select {
			case <-time.After(time.Second):
			case <-s.closing:
			case <-ctx.Done():
			}
			continue
		}
		for {
			var jm jetstream.Msg
			var ok bool
			select {
			case jm, ok = <-batch.Messages():
			case <-s.closing:
			case <-ctx.Done():
			}
			if !ok {
				if s.stopped(ctx) {
					// A message arriving now goes straight back.
					go func() {
						for jm := range batch.Messages() {
							_ = jm.Nak()
						}
					}()
				}
				break
			}
			if !s.deliver(ctx, log, p, jm, out) {
				return
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !s.stopped(ctx) {
			log.Debug("bus: pull ended", "err", err)
		}
	}
}

// deliver hands one message to the router and settles it with the broker,
// reporting progress while the handler runs. False: the subscriber stops.
func (s *natsSubscriber) deliver(ctx context.Context, log *slog.Logger, p int, jm jetstream.Msg, out chan<- *message.Message) bool {
	msg, err := s.b.marshal.Unmarshal(&nats.Msg{Subject: jm.Subject(), Header: jm.Headers(), Data: jm.Data()})
	if err != nil {
		// Nothing Tower forwarded: no handler could read it either.
		log.Error("bus: undecodable message dropped", "err", err)
		_ = jm.Term()
		return true
	}
	if ref := msg.Metadata.Get(metaPayloadRef); ref != "" {
		delete(msg.Metadata, metaPayloadRef)
		if err := s.b.db.QueryRowContext(ctx, `SELECT payload FROM bus_outbox WHERE id = $1`, ref).Scan(&msg.Payload); err != nil {
			log.Warn("bus: read a payload kept in the outbox; redelivering", "message_uuid", msg.UUID, "err", err)
			_ = jm.NakWithDelay(time.Second)
			return true
		}
	}
	if md, err := jm.Metadata(); err == nil {
		if md.NumDelivered > uint64(s.b.opts.MaxDeliver) {
			msg.Metadata.Set(MetaUnackedDeliveries, strconv.FormatUint(md.NumDelivered-1, 10))
		}
		msg.Metadata.Set(metaStreamSeq, strconv.FormatUint(md.Sequence.Stream, 10))
		msg.Metadata.Set(metaPartition, strconv.Itoa(p))
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msg.SetContext(mctx)
	select {
	case out <- msg:
	case <-s.closing:
		_ = jm.Nak()
		return false
	case <-ctx.Done():
		_ = jm.Nak()
		return false
	}
	progress := time.NewTicker(s.b.opts.AckWait / 3)
	defer progress.Stop()
	// A handler hung for good lets its message go to another node in the
	// end, rather than hold its partition forever.
	holdUntil := time.Now().Add(maxHold * s.b.opts.AckWait)
	for {
		select {
		case <-msg.Acked():
			// Not waiting for the server to confirm: with one message in
			// flight per partition it hands out the next only after this
			// ack, and an ack lost on the way only redelivers this message
			// (before any later one), which the handlers absorb.
			if err := jm.Ack(); err != nil {
				log.Warn("bus: ack not sent; the message will be delivered again", "message_uuid", msg.UUID, "err", err)
			}
			return true
		case <-msg.Nacked():
			_ = jm.NakWithDelay(100 * time.Millisecond)
			return true
		case <-progress.C:
			// The handler still runs (a retry waiting out an outage): keep
			// the message ours, or another node would take it out of turn.
			if time.Now().Before(holdUntil) {
				_ = jm.InProgress()
			}
		}
	}
}

// Close stops pulling and waits for the deliveries in flight to settle.
func (s *natsSubscriber) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("bus: subscriber: deliveries still in flight after 30s")
	}
}

// DeleteNATSStreams deletes every stream of prefix on the NATS server at
// url: what a bench run or a test leaves behind under its own prefix.
func DeleteNATSStreams(url, prefix string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return fmt.Errorf("nats: connect %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("nats: jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names := js.StreamNames(ctx)
	var doomed []string
	for n := range names.Name() {
		if strings.HasPrefix(n, strings.ToUpper(prefix)+"_") {
			doomed = append(doomed, n)
		}
	}
	if err := names.Err(); err != nil {
		return fmt.Errorf("nats: list streams: %w", err)
	}
	for _, n := range doomed {
		if err := js.DeleteStream(ctx, n); err != nil {
			return fmt.Errorf("nats: delete stream %s: %w", n, err)
		}
	}
	return nil
}
