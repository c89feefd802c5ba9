package kuaidi100test_test

import (
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/kuaidi100"
	"github.com/towerhq/tower/internal/platforms/kuaidi100/kuaidi100test"
	"github.com/towerhq/tower/internal/platforms/platformtest"
)

func TestPusher(t *testing.T) {
	src, err := kuaidi100.New(kuaidi100.Config{Name: "kd", Salt: "pepper"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	p := kuaidi100test.Pusher{Source: "kd", Salt: "pepper"}
	at := time.Date(2026, 11, 12, 9, 0, 0, 0, time.UTC)
	collected := order.Event{ID: "c", Kind: order.KindCollected, System: order.SystemCourier, OccurredAt: at}
	delivered := order.Event{ID: "d", Kind: order.KindDelivered, System: order.SystemCourier, OccurredAt: at.Add(20 * time.Hour)}
	sh := &platformtest.Shipment{Courier: "SF", TrackingNo: "SF1001", Events: []order.Event{collected, delivered}}
	req, err := p.Request(t.Context(), "http://tower", delivered, sh, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := platformtest.Deliver(src, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) == 0 || d.Events[len(d.Events)-1].Kind != order.KindDelivered || d.Events[len(d.Events)-1].Data.TrackingNo != "SF1001" {
		t.Errorf("delivered %+v", d.Events)
	}
}
