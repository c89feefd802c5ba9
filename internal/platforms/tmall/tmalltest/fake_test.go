package tmalltest_test

import (
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/tmall"
	"github.com/towerhq/tower/internal/platforms/tmall/tmalltest"
)

func TestPusher(t *testing.T) {
	src, err := tmall.New(tmall.Config{Name: "tm", AppKey: tmKey, AppSecret: tmSecret}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	p := tmalltest.Pusher{Source: "tm", AppKey: tmKey, AppSecret: tmSecret}
	e := order.Event{ID: "e1", Kind: order.KindCreated, System: order.SystemChannel, OccurredAt: t0,
		Order: order.Key{Channel: order.ChannelTmall, OrderNo: "4000000000000000123"}}
	req, err := p.Request(t.Context(), "http://tower", e, &platformtest.Shipment{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := platformtest.Deliver(src, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 1 || d.Events[0].Kind != order.KindCreated || d.Events[0].Order != e.Order {
		t.Errorf("delivered %+v", d.Events)
	}
}
