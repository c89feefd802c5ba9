// Package live fans twin changes out from the bus to this node's GraphQL
// subscribers. Every node consumes TopicTwinChanges under its own consumer
// group. The hub never blocks on a subscriber: each one holds only the
// latest state, so a slow browser skips to the newest twin or counts
// instead of stalling the bus.
package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
)

// HandlerName names the fan-out on the router.
const HandlerName = "live_fanout"

// Hub holds the latest state and the subscribers of this node.
type Hub struct {
	log *slog.Logger

	mu      sync.Mutex
	backlog events.Backlog
	bSubs   map[*Mailbox[events.Backlog]]struct{}
	oSubs   map[order.Key]map[*Mailbox[events.TwinSnapshot]]struct{}
	aSubs   map[chan events.AlertSnapshot]struct{}
	wSubs   map[chan events.WorkItemSnapshot]struct{}
	cSubs   map[*Mailbox[time.Time]]struct{}
	dropped func(field string)
	budget  int
}

// Options tunes a Hub.
type Options struct {
	// Dropped counts stream items a slow subscriber missed (may be nil).
	Dropped func(field string)
	// BacklogBudget bounds the backlog frames per second this node sends
	// all its backlog subscribers together (0: no bound): see
	// BacklogInterval.
	BacklogBudget int
}

// StreamBuffer is how many alerts or work items a subscriber may fall
// behind before it misses some (each is counted).
const StreamBuffer = 1024

// NewHub starts from initial backlog counts (read from the database once).
func NewHub(initial events.Backlog, log *slog.Logger, o Options) *Hub {
	return &Hub{
		dropped: o.Dropped,
		budget:  o.BacklogBudget,
		log:     log.With("component", "live"),
		backlog: initial,
		bSubs:   map[*Mailbox[events.Backlog]]struct{}{},
		aSubs:   map[chan events.AlertSnapshot]struct{}{},
		wSubs:   map[chan events.WorkItemSnapshot]struct{}{},
		cSubs:   map[*Mailbox[time.Time]]struct{}{},
		oSubs:   map[order.Key]map[*Mailbox[events.TwinSnapshot]]struct{}{},
	}
}

// Register consumes twin changes under a consumer group of this process
// only, starting at the newest message: a live view needs the present, and
// the hub's initial state came from the database. Every node has its own
// group, so each one learns of the twins every other node changed.
func (h *Hub) Register(ctx context.Context, r *message.Router, bus events.Bus, node string) error {
	var b [4]byte
	_, _ = rand.Read(b[:])
	group := "live-" + node + "-" + hex.EncodeToString(b[:])
	sub, err := bus.Tail(ctx, events.TopicTwinChanges, group)
	if err != nil {
		return err
	}
	r.AddConsumerHandler(HandlerName, events.TopicTwinChanges, sub, h.Handle)
	return nil
}

// Handle applies one TwinChanges message.
func (h *Hub) Handle(msg *message.Message) error {
	var w wireChanges
	if err := json.Unmarshal(msg.Payload, &w); err != nil {
		return fmt.Errorf("%w: decode %s message %s: %v", events.ErrPermanent, events.TopicTwinChanges, msg.UUID, err)
	}
	ch := events.TwinChanges{Backlog: w.Backlog, Alerts: w.Alerts, WorkItems: w.WorkItems}
	for _, s := range w.Twins {
		head := struct {
			Key *order.Key `json:"key"`
		}{s.Key}
		// Snapshots name their order beside the twin; older messages only
		// inside it.
		if head.Key == nil {
			if err := json.Unmarshal(s.Twin, &head); err != nil {
				return fmt.Errorf("%w: decode twin in %s message %s: %v", events.ErrPermanent, events.TopicTwinChanges, msg.UUID, err)
			}
		}
		if head.Key == nil || !h.watched(*head.Key) {
			continue
		}
		snap := events.TwinSnapshot{ID: s.ID, Tags: s.Tags}
		if err := json.Unmarshal(s.Twin, &snap.Twin); err != nil {
			return fmt.Errorf("%w: decode twin %s in %s message %s: %v", events.ErrPermanent, head.Key, events.TopicTwinChanges, msg.UUID, err)
		}
		ch.Twins = append(ch.Twins, snap)
	}
	h.Publish(ch)
	return nil
}

// wireChanges is TwinChanges with each twin left encoded: most changed
// orders have no subscriber on this node, and decoding every twin of a
// burst is the fan-out's main cost.
type wireChanges struct {
	Twins []struct {
		ID   int64           `json:"id"`
		Key  *order.Key      `json:"key"`
		Twin json.RawMessage `json:"twin"`
		Tags []string        `json:"tags"`
	} `json:"twins"`
	Backlog   events.Backlog            `json:"backlog"`
	Alerts    []events.AlertSnapshot    `json:"alerts,omitempty"`
	WorkItems []events.WorkItemSnapshot `json:"workItems,omitempty"`
}

// watched reports whether someone on this node follows order k.
func (h *Hub) watched(k order.Key) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.oSubs[k]) > 0
}

// Publish delivers a change to subscribers without blocking.
func (h *Hub) Publish(ch events.TwinChanges) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Messages may arrive out of order across nodes' commits; keep the
	// newest counts. Alert-only changes carry none.
	if ch.Backlog.Counts != nil && !ch.Backlog.At.Before(h.backlog.At) {
		h.backlog = ch.Backlog
		for mb := range h.bSubs {
			mb.Put(ch.Backlog)
		}
	}
	for _, a := range ch.Alerts {
		for c := range h.aSubs {
			select {
			case c <- a:
			default:
				if h.dropped != nil {
					h.dropped("alerts")
				}
			}
		}
	}
	for _, w := range ch.WorkItems {
		for c := range h.wSubs {
			select {
			case c <- w:
			default:
				if h.dropped != nil {
					h.dropped("workItems")
				}
			}
		}
	}
	for _, s := range ch.Twins {
		if s.Twin == nil {
			continue
		}
		for mb := range h.oSubs[s.Twin.Key] {
			mb.Put(s)
		}
	}
	for mb := range h.cSubs {
		mb.Put(ch.Backlog.At)
	}
}

// SubscribeChanges returns a mailbox told of every change (twins, alerts,
// work items), holding the latest change's time, removed when ctx ends:
// figures computed from the database are recomputed on it.
func (h *Hub) SubscribeChanges(ctx context.Context) *Mailbox[time.Time] {
	mb := NewMailbox[time.Time]()
	h.mu.Lock()
	h.cSubs[mb] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		delete(h.cSubs, mb)
		h.mu.Unlock()
	})
	return mb
}

// Backlog returns the latest counts.
func (h *Hub) Backlog() events.Backlog {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.backlog
}

// SubscribeBacklog returns a mailbox holding the latest counts, removed when ctx ends.
func (h *Hub) SubscribeBacklog(ctx context.Context) *Mailbox[events.Backlog] {
	mb := NewMailbox[events.Backlog]()
	h.mu.Lock()
	h.bSubs[mb] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		delete(h.bSubs, mb)
		h.mu.Unlock()
	})
	return mb
}

// BacklogInterval is how long a backlog subscriber waits between two
// frames: base, or longer once the node's backlog subscribers at that pace
// would take more than the budget's frames per second. Every frame is a
// GraphQL execution and a write for each subscriber, so ten times the
// subscribers would otherwise be ten times the CPU for the same counts;
// past the budget each sees the counts a little less often instead.
func (h *Hub) BacklogInterval(base time.Duration) time.Duration {
	if h.budget <= 0 {
		return base
	}
	h.mu.Lock()
	n := len(h.bSubs)
	h.mu.Unlock()
	return max(base, time.Duration(n)*time.Second/time.Duration(h.budget))
}

// BacklogPace is BacklogInterval(base) asked anew each time (PumpPaced).
func (h *Hub) BacklogPace(base time.Duration) func() time.Duration {
	return func() time.Duration { return h.BacklogInterval(base) }
}

// SubscribeAlerts streams every alert raised or changed, until ctx ends.
func (h *Hub) SubscribeAlerts(ctx context.Context) <-chan events.AlertSnapshot {
	return subscribe(ctx, h, h.aSubs)
}

// SubscribeWorkItems streams every work item created or changed.
func (h *Hub) SubscribeWorkItems(ctx context.Context) <-chan events.WorkItemSnapshot {
	return subscribe(ctx, h, h.wSubs)
}

func subscribe[T any](ctx context.Context, h *Hub, set map[chan T]struct{}) <-chan T {
	c := make(chan T, StreamBuffer)
	h.mu.Lock()
	set[c] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		delete(set, c)
		h.mu.Unlock()
	})
	return c
}

// SubscribeOrder returns a mailbox holding the latest twin of k.
func (h *Hub) SubscribeOrder(ctx context.Context, k order.Key) *Mailbox[events.TwinSnapshot] {
	mb := NewMailbox[events.TwinSnapshot]()
	h.mu.Lock()
	if h.oSubs[k] == nil {
		h.oSubs[k] = map[*Mailbox[events.TwinSnapshot]]struct{}{}
	}
	h.oSubs[k][mb] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		delete(h.oSubs[k], mb)
		if len(h.oSubs[k]) == 0 {
			delete(h.oSubs, k)
		}
		h.mu.Unlock()
	})
	return mb
}

// Mailbox holds one value, the latest; Put never blocks and replaces what
// the reader has not taken yet.
type Mailbox[T any] struct {
	mu       sync.Mutex
	v        T
	full     bool
	replaced int
	ready    chan struct{}
}

func NewMailbox[T any]() *Mailbox[T] { return &Mailbox[T]{ready: make(chan struct{}, 1)} }

// Put stores v, replacing an unread value.
func (m *Mailbox[T]) Put(v T) {
	m.mu.Lock()
	if m.full {
		m.replaced++
	}
	m.v, m.full = v, true
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled when a value may be waiting.
func (m *Mailbox[T]) Ready() <-chan struct{} { return m.ready }

// Take returns the value, if any, and how many values it replaced.
func (m *Mailbox[T]) Take() (v T, ok bool, replaced int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok, replaced = m.v, m.full, m.replaced
	var zero T
	m.v, m.full, m.replaced = zero, false, 0
	return v, ok, replaced
}

// Pump moves values from mb to out, at most one per interval, until ctx
// ends; each send carries the newest value. conv maps to the client's type.
func Pump[T, U any](ctx context.Context, mb *Mailbox[T], interval time.Duration, out chan<- U, conv func(T) U, onReplaced func(int)) {
	PumpSome(ctx, mb, interval, out, func(v T) (U, bool) { return conv(v), true }, onReplaced)
}

// PumpSome is Pump for subscribers that see only some values: conv says
// whether to send v at all (e.g. an order that left the caller's scope).
func PumpSome[T, U any](ctx context.Context, mb *Mailbox[T], interval time.Duration, out chan<- U, conv func(T) (U, bool), onReplaced func(int)) {
	PumpPaced(ctx, mb, func() time.Duration { return interval }, out, conv, onReplaced)
}

// PumpPaced is PumpSome whose interval is asked again before every send.
func PumpPaced[T, U any](ctx context.Context, mb *Mailbox[T], interval func() time.Duration, out chan<- U, conv func(T) (U, bool), onReplaced func(int)) {
	defer close(out)
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-mb.Ready():
		}
		if wait := interval() - time.Since(last); wait > 0 && !last.IsZero() {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		v, ok, replaced := mb.Take()
		if !ok {
			continue
		}
		if replaced > 0 && onReplaced != nil {
			onReplaced(replaced)
		}
		u, send := conv(v)
		if !send {
			continue
		}
		select {
		case out <- u:
			last = time.Now()
		case <-ctx.Done():
			return
		}
	}
}
