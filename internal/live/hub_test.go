package live

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/goleak"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/events"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait for something asynchronous; reaching it is a failure.
const wait = 5 * time.Second

var (
	keyA = order.Key{Channel: "web", OrderNo: "A-1"}
	keyB = order.Key{Channel: "web", OrderNo: "B-2"}
	keyC = order.Key{Channel: "app", OrderNo: "A-1"}
	t0   = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
)

func newTestHub() *Hub {
	return NewHub(events.Backlog{Counts: map[twin.Stage]int64{twin.StageCreated: 1}, At: t0}, slog.New(slog.DiscardHandler), Options{})
}

func snap(k order.Key, id int64) events.TwinSnapshot {
	return events.TwinSnapshot{ID: id, Twin: twin.New(k), Tags: []string{"t"}}
}

func backlogAt(at time.Time, created int64) events.Backlog {
	return events.Backlog{Counts: map[twin.Stage]int64{twin.StageCreated: created}, At: at}
}

// subCounts reads the hub's subscriber maps: backlog subscribers, order keys
// with subscribers, and order subscribers in all.
func subCounts(h *Hub) (backlog, keys, orders int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.oSubs {
		orders += len(m)
	}
	return len(h.bSubs), len(h.oSubs), orders
}

// eventually polls cond until it holds or wait passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", wait, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// closedWithin waits for done to be closed.
func closedWithin(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("timed out after %s waiting for %s", wait, what)
	}
}

// wantClosed checks out is closed (and drained) without waiting forever.
func wantClosed[T any](t *testing.T, out <-chan T) {
	t.Helper()
	select {
	case v, ok := <-out:
		if ok {
			t.Errorf("out delivered %v, want it closed", v)
		}
	case <-time.After(wait):
		t.Errorf("out not closed after %s", wait)
	}
}

func wantEmpty[T any](t *testing.T, name string, mb *Mailbox[T]) {
	t.Helper()
	if v, ok, _ := mb.Take(); ok {
		t.Errorf("%s: got %+v, want nothing", name, v)
	}
}

func wantSnap(t *testing.T, name string, mb *Mailbox[events.TwinSnapshot], id int64, replaced int) {
	t.Helper()
	v, ok, r := mb.Take()
	if !ok {
		t.Errorf("%s: empty, want twin %d", name, id)
		return
	}
	if v.ID != id || r != replaced {
		t.Errorf("%s: got twin %d (%d replaced), want twin %d (%d replaced)", name, v.ID, r, id, replaced)
	}
}

func TestMailboxKeepsLatest(t *testing.T) {
	mb := NewMailbox[int]()
	if v, ok, r := mb.Take(); ok || v != 0 || r != 0 {
		t.Fatalf("empty Take = %d, %v, %d", v, ok, r)
	}
	select {
	case <-mb.Ready():
		t.Fatal("Ready signalled before any Put")
	default:
	}

	mb.Put(1)
	if v, ok, r := mb.Take(); !ok || v != 1 || r != 0 {
		t.Fatalf("Take after one Put = %d, %v, %d; want 1, true, 0", v, ok, r)
	}

	for i := 10; i <= 14; i++ {
		mb.Put(i)
	}
	select {
	case <-mb.Ready():
	default:
		t.Fatal("Ready not signalled after Put")
	}
	if v, ok, r := mb.Take(); !ok || v != 14 || r != 4 {
		t.Fatalf("Take after five Puts = %d, %v, %d; want 14, true, 4", v, ok, r)
	}
	// Taking empties the box and resets the count.
	if v, ok, r := mb.Take(); ok || v != 0 || r != 0 {
		t.Fatalf("second Take = %d, %v, %d; want 0, false, 0", v, ok, r)
	}
	mb.Put(20)
	if v, ok, r := mb.Take(); !ok || v != 20 || r != 0 {
		t.Fatalf("Take after refill = %d, %v, %d; want 20, true, 0", v, ok, r)
	}
}

func TestMailboxPutNeverBlocks(t *testing.T) {
	const n = 100_000
	mb := NewMailbox[int]()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			mb.Put(i)
		}
	}()
	closedWithin(t, "100000 Puts with no reader", done)
	if v, ok, r := mb.Take(); !ok || v != n-1 || r != n-1 {
		t.Fatalf("Take = %d, %v, %d; want %d, true, %d", v, ok, r, n-1, n-1)
	}
	if got := len(mb.Ready()); got != 1 {
		t.Errorf("Ready holds %d signals, want 1", got)
	}
}

// Concurrent writers and a reader: nothing is lost from the accounting
// (taken + replaced = put) and each writer's values arrive in order.
func TestMailboxConcurrent(t *testing.T) {
	const writers, each = 8, 2000
	type val struct{ w, seq int }
	mb := NewMailbox[val]()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				mb.Put(val{w, i})
			}
		})
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()

	last := make([]int, writers)
	for i := range last {
		last[i] = -1
	}
	taken, replaced := 0, 0
	take := func() {
		v, ok, r := mb.Take()
		replaced += r
		if !ok {
			return
		}
		taken++
		if v.seq <= last[v.w] {
			t.Errorf("writer %d: got seq %d after %d", v.w, v.seq, last[v.w])
		}
		last[v.w] = v.seq
	}
	timeout := time.After(wait)
loop:
	for {
		select {
		case <-mb.Ready():
			take()
		case <-writersDone:
			break loop
		case <-timeout:
			t.Fatal("writers did not finish")
		}
	}
	take()
	if taken+replaced != writers*each {
		t.Errorf("taken %d + replaced %d = %d, want %d", taken, replaced, taken+replaced, writers*each)
	}
}

func TestPumpRateAndNewest(t *testing.T) {
	const interval = 50 * time.Millisecond
	for _, tt := range []struct {
		name    string
		readGap time.Duration // reader's pause after each value (not an assertion)
	}{
		// Faster than the interval: only Pump's pacing limits the sends.
		{"reader faster than interval", 10 * time.Millisecond},
		// Slower than the interval: Pump blocks on the send meanwhile.
		{"reader slower than interval", 70 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) { testPumpRate(t, interval, tt.readGap) })
	}
}

func testPumpRate(t *testing.T, interval, readGap time.Duration) {
	const n = 1000
	mb := NewMailbox[int]()
	out := make(chan int)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var dropped atomic.Int64
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		Pump(ctx, mb, interval, out, func(v int) int { return v }, func(k int) { dropped.Add(int64(k)) })
	}()

	start := time.Now()
	feedDone := make(chan struct{})
	go func() {
		defer close(feedDone)
		for i := range n {
			mb.Put(i)
			if i%25 == 24 {
				time.Sleep(5 * time.Millisecond) // spread the feed over several intervals
			}
		}
	}()

	var got []int
	var gaps []time.Duration
	var lastAt time.Time
	timeout := time.After(wait)
	for len(got) == 0 || got[len(got)-1] != n-1 {
		select {
		case v, ok := <-out:
			if !ok {
				t.Fatalf("out closed early after %v", got)
			}
			now := time.Now()
			if !lastAt.IsZero() {
				gaps = append(gaps, now.Sub(lastAt))
			}
			lastAt = now
			got = append(got, v)
			time.Sleep(readGap)
		case <-timeout:
			t.Fatalf("never received the last value %d; got %v", n-1, got)
		}
	}
	elapsed := time.Since(start)
	closedWithin(t, "feeder", feedDone)
	t.Logf("%d sends of %d values in %s, gaps %v", len(got), n, elapsed, gaps)

	if limit := int(elapsed/interval) + 2; len(got) > limit {
		t.Errorf("%d sends in %s: more than one per %s (limit %d)", len(got), elapsed, interval, limit)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Errorf("sends not increasing: %v", got)
			break
		}
	}
	if sent, d := len(got), int(dropped.Load()); sent+d != n {
		t.Errorf("sent %d + reported replaced %d = %d, want %d", sent, d, sent+d, n)
	}

	// Nothing more is sent once the newest value went out.
	select {
	case v := <-out:
		t.Errorf("extra send %d after the last value", v)
	case <-time.After(2 * interval):
	}

	cancel()
	closedWithin(t, "Pump to return", pumpDone)
	wantClosed(t, out)
}

// The reader never reads: Pump is blocked sending, and must still stop and
// close out when ctx ends.
func TestPumpStopsWhileBlockedOnReader(t *testing.T) {
	defer goleak.VerifyNone(t)
	mb := NewMailbox[int]()
	out := make(chan int)
	converting := make(chan int, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		Pump(ctx, mb, time.Millisecond, out, func(v int) int {
			converting <- v
			return v
		}, nil)
	}()
	mb.Put(1)
	select {
	case v := <-converting:
		if v != 1 {
			t.Fatalf("converted %d, want 1", v)
		}
	case <-time.After(wait):
		t.Fatal("Pump never took the value")
	}
	// More values while Pump is stuck on the send.
	for i := 2; i < 100; i++ {
		mb.Put(i)
	}
	cancel()
	closedWithin(t, "Pump to return after cancel", done)
	wantClosed(t, out)
}

func TestPumpStopsWhileIdle(t *testing.T) {
	defer goleak.VerifyNone(t)
	mb := NewMailbox[int]()
	out := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		Pump(ctx, mb, time.Millisecond, out, func(v int) int { return v }, nil)
	}()
	cancel()
	closedWithin(t, "idle Pump to return after cancel", done)
	wantClosed(t, out)
}

// Pump is waiting out the interval before its second send when ctx ends.
func TestPumpStopsWhileWaitingInterval(t *testing.T) {
	defer goleak.VerifyNone(t)
	mb := NewMailbox[int]()
	out := make(chan int)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		Pump(ctx, mb, time.Hour, out, func(v int) int { return v }, nil)
	}()
	mb.Put(1)
	select {
	case v := <-out:
		if v != 1 {
			t.Fatalf("first send %d, want 1", v)
		}
	case <-time.After(wait):
		t.Fatal("first value not sent at once")
	}
	mb.Put(2)
	select {
	case v := <-out:
		t.Fatalf("second value %d sent within the hour-long interval", v)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	closedWithin(t, "Pump to return while waiting the interval", done)
	wantClosed(t, out)
	// The value Pump never sent is still in the mailbox.
	if v, ok, _ := mb.Take(); !ok || v != 2 {
		t.Errorf("mailbox holds %d, %v; want 2, true", v, ok)
	}
}

func TestHubPublishRoutesByOrderKey(t *testing.T) {
	h := newTestHub()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a1 := h.SubscribeOrder(ctx, keyA)
	a2 := h.SubscribeOrder(ctx, keyA)
	b := h.SubscribeOrder(ctx, keyB)
	c := h.SubscribeOrder(ctx, keyC) // same order number, other channel
	bl1 := h.SubscribeBacklog(ctx)
	bl2 := h.SubscribeBacklog(ctx)

	h.Publish(events.TwinChanges{Twins: []events.TwinSnapshot{snap(keyA, 1)}, Backlog: backlogAt(t0.Add(time.Second), 5)})
	wantSnap(t, "a1", a1, 1, 0)
	wantSnap(t, "a2", a2, 1, 0)
	wantEmpty(t, "b", b)
	wantEmpty(t, "c", c)
	for name, mb := range map[string]*Mailbox[events.Backlog]{"bl1": bl1, "bl2": bl2} {
		v, ok, _ := mb.Take()
		if !ok || v.Counts[twin.StageCreated] != 5 || !v.At.Equal(t0.Add(time.Second)) {
			t.Errorf("%s: got %+v, %v; want the published backlog", name, v, ok)
		}
	}

	h.Publish(events.TwinChanges{
		Twins:   []events.TwinSnapshot{snap(keyA, 2), snap(keyB, 3), snap(keyA, 4)},
		Backlog: backlogAt(t0.Add(2*time.Second), 6),
	})
	wantSnap(t, "a1", a1, 4, 1)
	wantSnap(t, "a2", a2, 4, 1)
	wantSnap(t, "b", b, 3, 0)
	wantEmpty(t, "c", c)

	// A twin nobody watches goes nowhere and adds no map entry.
	h.Publish(events.TwinChanges{Twins: []events.TwinSnapshot{snap(order.Key{Channel: "web", OrderNo: "Z-9"}, 5)}, Backlog: backlogAt(t0.Add(3*time.Second), 7)})
	wantEmpty(t, "a1", a1)
	wantEmpty(t, "b", b)
	if _, keys, _ := subCounts(h); keys != 3 {
		t.Errorf("%d order keys in the hub, want 3", keys)
	}
}

func TestHubBacklogKeepsNewest(t *testing.T) {
	h := newTestHub()
	if got := h.Backlog(); !got.At.Equal(t0) || got.Counts[twin.StageCreated] != 1 {
		t.Fatalf("initial backlog %+v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bl := h.SubscribeBacklog(ctx)
	a := h.SubscribeOrder(ctx, keyA)

	t2 := t0.Add(2 * time.Second)
	h.Publish(events.TwinChanges{Backlog: backlogAt(t2, 20)})
	if v, ok, _ := bl.Take(); !ok || v.Counts[twin.StageCreated] != 20 {
		t.Fatalf("newer backlog not delivered: %+v, %v", v, ok)
	}

	// An older backlog (another node's earlier commit arriving late) is
	// ignored, but its twins are still delivered.
	h.Publish(events.TwinChanges{Twins: []events.TwinSnapshot{snap(keyA, 1)}, Backlog: backlogAt(t0.Add(time.Second), 10)})
	wantEmpty(t, "backlog after an older one", bl)
	wantSnap(t, "a", a, 1, 0)
	if got := h.Backlog(); !got.At.Equal(t2) || got.Counts[twin.StageCreated] != 20 {
		t.Errorf("Backlog() = %+v, want the one at %s", got, t2)
	}

	// Older than the initial state too.
	h.Publish(events.TwinChanges{Backlog: backlogAt(t0.Add(-time.Hour), 99)})
	wantEmpty(t, "backlog after a much older one", bl)

	t3 := t0.Add(3 * time.Second)
	h.Publish(events.TwinChanges{Backlog: backlogAt(t3, 30)})
	if v, ok, _ := bl.Take(); !ok || v.Counts[twin.StageCreated] != 30 {
		t.Errorf("newest backlog not delivered: %+v, %v", v, ok)
	}
	if got := h.Backlog(); !got.At.Equal(t3) {
		t.Errorf("Backlog().At = %s, want %s", got.At, t3)
	}
}

func TestHubUnsubscribesWhenCtxEnds(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newTestHub()
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()

	a1 := h.SubscribeOrder(ctx1, keyA)
	b1 := h.SubscribeOrder(ctx1, keyB)
	bl1 := h.SubscribeBacklog(ctx1)
	a2 := h.SubscribeOrder(ctx2, keyA)
	bl2 := h.SubscribeBacklog(ctx2)
	if bs, keys, os := subCounts(h); bs != 2 || keys != 2 || os != 3 {
		t.Fatalf("before cancel: %d backlog, %d keys, %d order subscribers; want 2, 2, 3", bs, keys, os)
	}

	cancel1()
	eventually(t, "ctx1's subscriptions to go", func() bool {
		bs, keys, os := subCounts(h)
		return bs == 1 && keys == 1 && os == 1
	})
	h.Publish(events.TwinChanges{Twins: []events.TwinSnapshot{snap(keyA, 1), snap(keyB, 2)}, Backlog: backlogAt(t0.Add(time.Second), 3)})
	wantEmpty(t, "a1 after cancel", a1)
	wantEmpty(t, "b1 after cancel", b1)
	wantEmpty(t, "bl1 after cancel", bl1)
	wantSnap(t, "a2", a2, 1, 0)
	if _, ok, _ := bl2.Take(); !ok {
		t.Error("bl2: backlog not delivered")
	}

	cancel2()
	eventually(t, "all subscriptions to go", func() bool {
		bs, keys, os := subCounts(h)
		return bs == 0 && keys == 0 && os == 0
	})
	h.Publish(events.TwinChanges{Twins: []events.TwinSnapshot{snap(keyA, 3)}, Backlog: backlogAt(t0.Add(2*time.Second), 4)})
	wantEmpty(t, "a2 after cancel", a2)
	wantEmpty(t, "bl2 after cancel", bl2)
}

// A subscriber whose ctx has already ended is removed as well.
func TestHubSubscribeWithEndedCtx(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newTestHub()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.SubscribeOrder(ctx, keyA)
	h.SubscribeBacklog(ctx)
	eventually(t, "subscriptions of an ended ctx to go", func() bool {
		bs, keys, os := subCounts(h)
		return bs == 0 && keys == 0 && os == 0
	})
}

// Subscribers come and go while changes are published: the race detector
// checks the locking, and the maps end empty.
func TestHubConcurrentSubscribePublish(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newTestHub()
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	pubs.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h.Publish(events.TwinChanges{
				Twins:   []events.TwinSnapshot{snap(keyA, int64(i)), snap(keyB, int64(i))},
				Backlog: backlogAt(t0.Add(time.Duration(i)*time.Millisecond), int64(i)),
			})
		}
	})
	var subs sync.WaitGroup
	for g := range 8 {
		subs.Go(func() {
			k := keyA
			if g%2 == 1 {
				k = keyB
			}
			for range 200 {
				ctx, cancel := context.WithCancel(context.Background())
				mb := h.SubscribeOrder(ctx, k)
				bl := h.SubscribeBacklog(ctx)
				if v, ok, _ := mb.Take(); ok && v.Twin.Key != k {
					t.Errorf("subscriber of %s got a twin of %s", k, v.Twin.Key)
				}
				bl.Take()
				cancel()
			}
		})
	}
	subsDone := make(chan struct{})
	go func() { subs.Wait(); close(subsDone) }()
	closedWithin(t, "subscribers", subsDone)
	close(stop)
	pubs.Wait()
	eventually(t, "all subscriptions to go", func() bool {
		bs, keys, os := subCounts(h)
		return bs == 0 && keys == 0 && os == 0
	})
}

func TestHubHandle(t *testing.T) {
	h := newTestHub()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := h.SubscribeOrder(ctx, keyA)
	bl := h.SubscribeBacklog(ctx)

	payload, err := json.Marshal(events.TwinChanges{Twins: []events.TwinSnapshot{snap(keyA, 7)}, Backlog: backlogAt(t0.Add(time.Minute), 8)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Handle(message.NewMessage("m-1", payload)); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	v, ok, _ := a.Take()
	if !ok || v.ID != 7 || v.Twin == nil || v.Twin.Key != keyA {
		t.Errorf("order subscriber got %+v, %v", v, ok)
	}
	if b, ok, _ := bl.Take(); !ok || b.Counts[twin.StageCreated] != 8 || !b.At.Equal(t0.Add(time.Minute)) {
		t.Errorf("backlog subscriber got %+v, %v", b, ok)
	}

	err = h.Handle(message.NewMessage("m-2", []byte("{not json")))
	if !errors.Is(err, events.ErrPermanent) {
		t.Errorf("Handle(bad JSON) = %v, want an ErrPermanent", err)
	}
	wantEmpty(t, "order subscriber after bad message", a)
	wantEmpty(t, "backlog subscriber after bad message", bl)
}

// A bus message reaches the subscribers of its orders with their whole
// twins; twins nobody here follows are skipped; a twin that does not
// decode is a permanent error naming the message.
func TestHubHandleDecodesWatchedTwins(t *testing.T) {
	h := newTestHub()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := h.SubscribeOrder(ctx, keyA)
	bl := h.SubscribeBacklog(ctx)
	tw := twin.New(keyA)
	msg, err := events.NewMessage(events.TwinChanges{
		Twins:   []events.TwinSnapshot{{ID: 1, Twin: tw, Tags: []string{"加急"}}, snap(keyB, 2)},
		Backlog: backlogAt(t0.Add(time.Second), 9),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Handle(msg); err != nil {
		t.Fatal(err)
	}
	v, ok, _ := a.Take()
	if !ok || v.ID != 1 || v.Twin == nil || v.Twin.Key != keyA || len(v.Tags) != 1 || v.Tags[0] != "加急" {
		t.Fatalf("subscriber got %+v, %v; want twin 1 of %s with its tags", v, ok, keyA)
	}
	if v, ok, _ := bl.Take(); !ok || v.Counts[twin.StageCreated] != 9 {
		t.Fatalf("backlog %+v, %v", v, ok)
	}

	bad := message.NewMessage("bad-1", []byte(`{"twins":[{"id":3,"twin":{"key":"not a key"}}]}`))
	if err := h.Handle(bad); !errors.Is(err, events.ErrPermanent) || !strings.Contains(err.Error(), "bad-1") {
		t.Fatalf("malformed twin: %v, want a permanent error naming the message", err)
	}
}

// Every change, of twins or alerts only, tells the change subscribers;
// they hold the latest and never block the hub.
func TestSubscribeChanges(t *testing.T) {
	h := NewHub(events.Backlog{}, slog.New(slog.DiscardHandler), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	mb := h.SubscribeChanges(ctx)
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	h.Publish(events.TwinChanges{Backlog: events.Backlog{At: at}})
	h.Publish(events.TwinChanges{Alerts: []events.AlertSnapshot{{}}})
	select {
	case <-mb.Ready():
	case <-time.After(time.Second):
		t.Fatal("no signal")
	}
	if _, ok, replaced := mb.Take(); !ok || replaced != 1 {
		t.Errorf("take: %v, replaced %d", ok, replaced)
	}
	cancel()
	eventually(t, "the subscriber removed", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.cSubs) == 0
	})
}

// The backlog pace stays the configured one while the node's backlog
// subscribers fit the budget, and stretches with their number past it; a
// subscriber leaving gives the others their pace back.
func TestBacklogIntervalKeepsTheBudget(t *testing.T) {
	const base = 250 * time.Millisecond
	cases := []struct {
		name        string
		budget, sub int
		want        time.Duration
	}{
		{"no budget", 0, 5000, base},
		{"within it", 400, 100, base},
		{"at it", 400, 100, base},
		{"just over", 400, 101, 252500 * time.Microsecond},
		{"twice over", 400, 200, 500 * time.Millisecond},
		{"ten thousand on 4000/s", 4000, 10000, 2500 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := NewHub(events.Backlog{}, slog.New(slog.DiscardHandler), Options{BacklogBudget: c.budget})
			ctx, cancel := context.WithCancel(context.Background())
			for range c.sub {
				h.SubscribeBacklog(ctx)
			}
			if got := h.BacklogInterval(base); got != c.want {
				t.Errorf("%d subscribers, budget %d/s: interval %v, want %v", c.sub, c.budget, got, c.want)
			}
			pace := h.BacklogPace(base)
			cancel()
			// The subscriptions end with ctx (asynchronously).
			deadline := time.Now().Add(5 * time.Second)
			for pace() != base && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := pace(); got != base {
				t.Errorf("after they left: %v, want %v", got, base)
			}
		})
	}
}
