// Package fakeplatform is local HTTP fakes of the channel order-list APIs
// Tower's reconciliation pulls (reconcile/pull): Douyin Shop's
// order.searchList, Taobao/Tmall's taobao.trades.sold.increment.get and the
// brand mini-program backend's GET /orders.
//
// The fakes check what the real platforms check: the request signature
// (Douyin's HMAC-SHA256 call signature, the TOP MD5/HMAC signature, the
// mini-program's Standard-Webhooks-style request signature), the app key and
// the method, and refuse in the platform's own error shape. They answer in
// the platform's response shape, paginated the platform's way, from a Store
// that the test or simulator fills.
//
// Error codes the fakes use (the real platforms have more):
//
//	Douyin       HTTP 200 {"code":<n>,"msg":…,"sub_code":…,"sub_msg":…,"log_id":…,"data":{}}
//	             40001 isv.missing-parameter, 40002 isv.invalid-parameter,
//	             40003 isv.invalid-signature, 40004 isv.invalid-app-key,
//	             40005 isv.invalid-timestamp, 40006 isv.method-not-found
//	TOP (Tmall)  HTTP 200 {"error_response":{"code":<n>,"msg":…,"sub_code":…,"sub_msg":…,"request_id":…}}
//	             22 Invalid Method, 25 Invalid Signature, 29 Invalid App Key,
//	             40 Missing Required Arguments, 41 Invalid Arguments, 43 Invalid Timestamp
//	Mini-program HTTP 4xx {"code":<word>,"message":…}: 400 invalid_parameter,
//	             401 invalid_signature / missing_signature / stale_timestamp,
//	             404 not_found, 405 method_not_allowed
//
// Windows are half-open everywhere: an order is listed when its UpdatedAt is
// in [from, to), as Store promises.
package fakeplatform

import (
	"encoding/json"
	"net/http"
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
	sortOrders(out)
	return out
}

// sortOrders orders by (UpdatedAt, OrderNo), the order every fake lists in.
func sortOrders(os []Order) {
	slices.SortFunc(os, func(a, b Order) int {
		if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Key.OrderNo, b.Key.OrderNo)
	})
}

// MuxConfig configures NewMux.
type MuxConfig struct {
	DouyinAppKey, DouyinAppSecret string
	TmallAppKey, TmallAppSecret   string
	// MiniProgramSecret is the "whsec_…" signing key.
	MiniProgramSecret string
	// Now, when set, makes the fakes refuse request timestamps too far from
	// it: Douyin and TOP 10 minutes, the mini-program 5. When nil any
	// timestamp is accepted, which suits tests with a fixed client clock.
	Now func() time.Time
}

// Timestamp tolerances applied when a clock is configured.
const (
	DouyinTolerance      = 10 * time.Minute
	TopTolerance         = 10 * time.Minute
	MiniProgramTolerance = 5 * time.Minute
)

// NewMux serves all three fakes: Douyin under /douyin (so the client's
// BaseURL is <server>/douyin), Tmall under /tmall, the mini-program under
// /miniprogram.
func NewMux(cfg MuxConfig, s Store) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/douyin/", http.StripPrefix("/douyin", newDouyin(cfg.DouyinAppKey, cfg.DouyinAppSecret, s, cfg.Now)))
	mux.Handle("/tmall/", http.StripPrefix("/tmall", newTmall(cfg.TmallAppKey, cfg.TmallAppSecret, s, cfg.Now)))
	// The mini-program fake verifies the path the client signed, which it
	// reads from the request line, so stripping the prefix is harmless.
	mux.Handle("/miniprogram/", http.StripPrefix("/miniprogram", newMiniProgram(cfg.MiniProgramSecret, s, cfg.Now)))
	return mux
}

// writeJSON answers v as JSON, without HTML escaping, as the platforms do.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// fresh reports whether ts is within tol of now(); always true without a
// clock.
func fresh(now func() time.Time, ts time.Time, tol time.Duration) bool {
	if now == nil {
		return true
	}
	d := now().Sub(ts)
	return d <= tol && d >= -tol
}

// maxRequestBody caps what the fakes read from a request.
const maxRequestBody = 1 << 20
