package platformtest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/reconcile/pull/pulltest"
)

func TestMemStore(t *testing.T) {
	t0, now := pulltest.T0, pulltest.T0.Add(2*time.Hour)
	var s platformtest.MemStore
	if got := s.Orders(order.ChannelDouyin, t0, now); len(got) != 0 {
		t.Fatalf("empty store listed %v", got)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			s.Put(platformtest.Order{Key: order.Key{Channel: order.ChannelDouyin, OrderNo: fmt.Sprint(i)},
				UpdatedAt: t0.Add(time.Duration(i) * time.Minute)})
			_ = s.Orders(order.ChannelDouyin, t0, now)
		})
	}
	wg.Wait()
	got := s.Orders(order.ChannelDouyin, t0.Add(10*time.Minute), t0.Add(20*time.Minute))
	if len(got) != 10 || got[0].Key.OrderNo != "10" || got[9].Key.OrderNo != "19" {
		t.Errorf("[10m, 20m) listed %d orders: %v", len(got), got)
	}
	if len(s.Orders(order.ChannelTmall, t0, now)) != 0 {
		t.Error("another channel's orders listed")
	}
	s.Put(platformtest.Order{Key: order.Key{Channel: order.ChannelDouyin, OrderNo: "10"}, UpdatedAt: now})
	s.Delete(order.Key{Channel: order.ChannelDouyin, OrderNo: "11"})
	if got := s.Orders(order.ChannelDouyin, t0.Add(10*time.Minute), t0.Add(20*time.Minute)); len(got) != 8 || s.Len() != 49 {
		t.Errorf("after replace and delete: %d listed, %d held", len(got), s.Len())
	}
}

// NewMux mounts each order list under its path.
func TestNewMux(t *testing.T) {
	// Covered end to end by the platforms' fakes; here only the mounting.
	var seen string
	h := platformtest.NewMux(&platformtest.MemStore{}, nil, platformtest.OrderList{Path: "/x", New: func(platformtest.Store, func() time.Time) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.URL.Path })
	}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x/orders", nil))
	if seen != "/orders" {
		t.Errorf("handler saw %q, want /orders", seen)
	}
}
