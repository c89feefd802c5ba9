package projection

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Deliveries submitted while a transaction runs go together into the next
// one; every delivery gets its own transaction's outcome; no delivery is
// run twice or lost.
func TestGroupFoldsConcurrentDeliveries(t *testing.T) {
	var g group
	release := make(chan struct{})
	entered := make(chan struct{})
	var mu sync.Mutex
	var runs [][]string
	run := func(ds []*delivery) {
		mu.Lock()
		first := len(runs) == 0
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.msg.UUID)
		}
		runs = append(runs, ids)
		mu.Unlock()
		if first {
			close(entered)
			<-release // hold the first transaction until the rest queued
		}
		for _, d := range ds {
			if d.msg.UUID == "bad" {
				d.err = errors.New("bad")
			}
		}
	}
	submit := func(id string) error {
		return g.submit(&delivery{msg: message.NewMessage(id, nil)}, run)
	}
	errs := make(map[string]error)
	var wg sync.WaitGroup
	var emu sync.Mutex
	wg.Go(func() { err := submit("first"); emu.Lock(); errs["first"] = err; emu.Unlock() })
	<-entered
	ids := []string{"bad"}
	for i := range 9 {
		ids = append(ids, fmt.Sprintf("m%d", i))
	}
	for _, id := range ids {
		wg.Go(func() { err := submit(id); emu.Lock(); errs[id] = err; emu.Unlock() })
	}
	// All ten must be queued behind the running transaction before it ends.
	for {
		g.mu.Lock()
		n := len(g.queue)
		g.mu.Unlock()
		if n == len(ids) {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()

	if len(runs) != 2 || len(runs[0]) != 1 || len(runs[1]) != len(ids) {
		t.Fatalf("transactions %v: want the first alone, then the ten queued behind it together", runs)
	}
	for id, err := range errs {
		if (id == "bad") != (err != nil) {
			t.Errorf("%s: error %v", id, err)
		}
	}
	if len(errs) != len(ids)+1 {
		t.Errorf("%d outcomes for %d deliveries", len(errs), len(ids)+1)
	}
	if g.busy || len(g.queue) != 0 {
		t.Errorf("group left busy=%v with %d queued", g.busy, len(g.queue))
	}
}

// More deliveries than one transaction takes are split, and each later
// group is led by one of its own.
func TestGroupSplitsLargeQueues(t *testing.T) {
	var g group
	var mu sync.Mutex
	seen := map[string]int{}
	var sizes []int
	run := func(ds []*delivery) {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(ds))
		for _, d := range ds {
			seen[d.msg.UUID]++
		}
	}
	var wg sync.WaitGroup
	const n = 500
	for i := range n {
		wg.Go(func() {
			if err := g.submit(&delivery{msg: message.NewMessage(fmt.Sprint(i), nil)}, run); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d of %d deliveries ran", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s ran %d times", id, c)
		}
	}
	for _, s := range sizes {
		if s > maxGroup {
			t.Errorf("a transaction took %d deliveries (at most %d)", s, maxGroup)
		}
	}
}
