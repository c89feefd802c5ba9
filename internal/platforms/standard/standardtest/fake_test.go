package standardtest_test

import (
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/standard"
	"github.com/towerhq/tower/internal/platforms/standard/standardtest"
)

func TestPusher(t *testing.T) {
	src, err := standard.New(standard.Config{Name: "erp", Secrets: []string{mpSecret}}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	p := standardtest.Pusher{Source: "erp", Secret: mpSecret}
	e := order.Event{ID: "e1", Kind: order.KindCreated, System: order.SystemERP, OccurredAt: t0,
		Order: order.Key{Channel: order.ChannelTmall, OrderNo: "1"}}
	req, err := p.Request(t.Context(), "http://tower", e, &platformtest.Shipment{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := platformtest.Deliver(src, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 1 || d.Events[0].ID != "e1" || d.Events[0].System != order.SystemERP {
		t.Errorf("delivered %+v", d.Events)
	}
	if c := p.Carries(); c.System != order.SystemERP || c.Fallback == 0 {
		t.Errorf("the ERP carries %+v", c)
	}
	mp := standardtest.Pusher{Source: "mp", Secret: mpSecret, Channel: order.ChannelMiniProgram}.Carries()
	if mp.Channel != order.ChannelMiniProgram || mp.Fallback == 0 || mp.Fallback >= p.Carries().Fallback {
		t.Errorf("the mini-program backend carries %+v", mp)
	}
}
