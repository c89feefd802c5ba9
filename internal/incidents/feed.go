package incidents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/uptrace/bun"

	"github.com/towerhq/tower/events"
)

// FeedHandler names the live fan-out of incident changes on the router.
const FeedHandler = "incidents_live"

// FeedBuffer is how many changes a subscriber may fall behind before it
// misses some (each is counted).
const FeedBuffer = 256

// Feed fans incident changes out to this node's GraphQL subscribers, as
// internal/live does twin changes: a consumer group of this process only,
// starting at the newest message, never blocking on a slow subscriber.
type Feed struct {
	mu      sync.Mutex
	subs    map[chan events.IncidentSnapshot]struct{}
	dropped func()
}

// NewFeed makes a feed; dropped (may be nil) counts changes a slow
// subscriber missed.
func NewFeed(dropped func()) *Feed {
	return &Feed{subs: map[chan events.IncidentSnapshot]struct{}{}, dropped: dropped}
}

// Register consumes incident changes under a group of this process.
func (f *Feed) Register(ctx context.Context, r *message.Router, bus events.Bus, db *bun.DB, node string) error {
	var b [4]byte
	_, _ = rand.Read(b[:])
	group := "incidents-live-" + node + "-" + hex.EncodeToString(b[:])
	if err := events.SeekToEnd(ctx, db, events.TopicIncidents, group); err != nil {
		return err
	}
	sub, err := bus.Subscriber(group)
	if err != nil {
		return err
	}
	r.AddConsumerHandler(FeedHandler, events.TopicIncidents, sub, f.Handle)
	return nil
}

// Handle delivers one IncidentChanges message.
func (f *Feed) Handle(msg *message.Message) error {
	var ch events.IncidentChanges
	if err := json.Unmarshal(msg.Payload, &ch); err != nil {
		return fmt.Errorf("%w: decode %s message %s: %v", events.ErrPermanent, events.TopicIncidents, msg.UUID, err)
	}
	f.Publish(ch.Incidents...)
	return nil
}

// Publish delivers changes to subscribers without blocking.
func (f *Feed) Publish(snaps ...events.IncidentSnapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range snaps {
		for c := range f.subs {
			select {
			case c <- s:
			default:
				if f.dropped != nil {
					f.dropped()
				}
			}
		}
	}
}

// Subscribe streams every incident change until ctx ends.
func (f *Feed) Subscribe(ctx context.Context) <-chan events.IncidentSnapshot {
	c := make(chan events.IncidentSnapshot, FeedBuffer)
	f.mu.Lock()
	f.subs[c] = struct{}{}
	f.mu.Unlock()
	context.AfterFunc(ctx, func() {
		f.mu.Lock()
		delete(f.subs, c)
		f.mu.Unlock()
	})
	return c
}
