package douyintest_test

import (
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/douyin"
	"github.com/towerhq/tower/internal/platforms/douyin/douyintest"
	"github.com/towerhq/tower/internal/platforms/platformtest"
)

func TestPusher(t *testing.T) {
	src, err := douyin.New(douyin.Config{Name: "dy", AppKey: dyKey, AppSecret: dySecret}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	p := douyintest.Pusher{Source: "dy", AppKey: dyKey, AppSecret: dySecret}
	amount := order.Money(12990)
	e := order.Event{ID: "e1", Kind: order.KindPaid, System: order.SystemChannel, OccurredAt: t0,
		Order: order.Key{Channel: order.ChannelDouyin, OrderNo: "6921000000001"}, Data: order.Data{Amount: &amount, Currency: "CNY"}}
	req, err := p.Request(t.Context(), "http://tower", e, &platformtest.Shipment{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := platformtest.Deliver(src, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 1 || d.Events[0].Kind != order.KindPaid || d.Events[0].Order != e.Order {
		t.Errorf("delivered %+v", d.Events)
	}
}
