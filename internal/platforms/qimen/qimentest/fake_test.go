package qimentest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/qimen"
	"github.com/towerhq/tower/internal/platforms/qimen/qimentest"
)

func TestPusher(t *testing.T) {
	src, err := qimen.New(qimen.Config{Name: "wms", AppKey: "k", AppSecret: "s", CustomerID: "C1"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	p := qimentest.Pusher{Source: "wms", AppKey: "k", AppSecret: "s", CustomerID: "C1"}
	sh := &platformtest.Shipment{Warehouse: "HZ-01", Courier: "SF", TrackingNo: "SF1"}
	at := time.Date(2026, 11, 11, 21, 0, 0, 0, time.UTC)
	for _, k := range []order.Kind{order.KindWMSReceived, order.KindWMSPicked, order.KindWMSPacked, order.KindWMSOutbound} {
		e := order.Event{ID: "e-" + string(k), Kind: k, System: order.SystemWMS, OccurredAt: at, Order: order.Key{OrderNo: "4000000000000000123"}}
		req, err := p.Request(t.Context(), "http://tower", e, sh, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		d, err := platformtest.Deliver(src, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Events) != 1 || d.Events[0].Kind != k || d.Events[0].Order.OrderNo != e.Order.OrderNo {
			t.Errorf("%s delivered %+v", k, d.Events)
		}
	}
	_, err = p.Request(t.Context(), "http://tower", order.Event{Kind: order.KindPaid}, sh, time.Now())
	if !errors.Is(err, platformtest.ErrNotPushed) {
		t.Errorf("a payment: %v, want ErrNotPushed", err)
	}
}
