package projection

import (
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/towerhq/tower/domain/order"
)

// maxGroup bounds the deliveries one projection transaction folds.
const maxGroup = 64

// delivery is one message waiting for a projection transaction.
type delivery struct {
	msg *message.Message
	evs []order.Event
	err error
	// done is closed once err is final; lead tells a waiting delivery to
	// run the next transaction itself.
	done chan struct{}
	lead chan struct{}
}

// group folds the deliveries handled concurrently into one transaction, the
// way ingest's group commit folds webhooks: the first arrival runs a
// transaction at once; those arriving meanwhile wait and go together in the
// next one, run by the first of them. A bus partitioned by order key (NATS)
// hands over one message per partition at a time, so every delivery of a
// group belongs to other orders than the rest: folding them keeps
// per-order order. Without it each partition's message was a transaction
// of its own, all of them fighting for the same stage-count and rollup
// rows.
type group struct {
	mu    sync.Mutex
	queue []*delivery
	busy  bool
}

// submit waits until d has been through a transaction run by run, which
// must set the err of every delivery it is given.
func (g *group) submit(d *delivery, run func([]*delivery)) error {
	d.done, d.lead = make(chan struct{}), make(chan struct{}, 1)
	g.mu.Lock()
	g.queue = append(g.queue, d)
	if g.busy {
		g.mu.Unlock()
		select {
		case <-d.done:
			return d.err
		case <-d.lead:
		}
		g.mu.Lock()
	}
	g.busy = true
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = append([]*delivery(nil), g.queue[n:]...)
	g.mu.Unlock()

	run(batch)
	for _, b := range batch {
		if b != d {
			close(b.done)
		}
	}

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].lead <- struct{}{}
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	return d.err
}
