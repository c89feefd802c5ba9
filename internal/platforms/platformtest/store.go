// Package platformtest is what the platforms' fakes share (each fake sits
// beside its platform, douyin/douyintest, the way net/http/httptest sits
// beside net/http): a platform-neutral store of orders that each fake
// order-list API answers from in its own platform's shape, the server that
// mounts them, the Pusher a fake sends pushes with, and Fake, what the
// simulator plays of a platform. Tests and the simulator fill the store.
// It imports no testing code: the simulator, and so `tower serve`, links
// it. The pull clients' contract suite is reconcile/pull/pulltest.
package platformtest

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/towerhq/tower/domain/order"
)

// Order statuses a Store holds.
const (
	StatusCreated   = "created"
	StatusPaid      = "paid"
	StatusCancelled = "cancelled"
	StatusRefunded  = "refunded"
)

// Order is one order as the fakes know it, platform-neutral; each fake maps
// it to its platform's shape.
type Order struct {
	Key order.Key
	// Status is created, paid, cancelled or refunded.
	Status                                                string
	CreatedAt, PaidAt, CancelledAt, RefundedAt, UpdatedAt time.Time
	Amount                                                order.Money
	CancelReason                                          string
}

// Store is what the fakes serve from.
type Store interface {
	// Orders are channel's orders whose UpdatedAt is in [from, to).
	Orders(channel string, from, to time.Time) []Order
}

// MemStore is a concurrency-safe in-memory Store. The zero value is empty
// and ready.
type MemStore struct {
	mu     sync.RWMutex
	orders map[order.Key]Order
}

// Put adds o, or replaces the order with the same key.
func (m *MemStore) Put(o Order) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.orders == nil {
		m.orders = map[order.Key]Order{}
	}
	m.orders[o.Key] = o
}

// Delete removes the order with key k, if any.
func (m *MemStore) Delete(k order.Key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.orders, k)
}

// Len is how many orders the store holds.
func (m *MemStore) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.orders)
}

// Orders implements Store; the result is ordered by (UpdatedAt, OrderNo).
func (m *MemStore) Orders(channel string, from, to time.Time) []Order {
	m.mu.RLock()
	var out []Order
	for k, o := range m.orders {
		if k.Channel == channel && !o.UpdatedAt.Before(from) && o.UpdatedAt.Before(to) {
			out = append(out, o)
		}
	}
	m.mu.RUnlock()
	SortOrders(out)
	return out
}

// SortOrders orders by (UpdatedAt, OrderNo), the order every fake lists in.
func SortOrders(os []Order) {
	slices.SortFunc(os, func(a, b Order) int {
		if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Key.OrderNo, b.Key.OrderNo)
	})
}
