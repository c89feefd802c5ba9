package projection_test

import (
	"testing"

	"github.com/towerhq/tower/domain/order"
)

// Platform messages that find their order later: a WMS report by order
// number alone, a courier push by tracking number alone. Whichever arrives
// first, the twin ends the same.
func TestEventsFindTheirOrderLater(t *testing.T) {
	p, _ := newTwins(t)
	ctx := ctxT(t)

	paid := func(k order.Key) order.Event {
		e := event(k, "paid-"+k.OrderNo, order.KindPaid, 0)
		return e
	}
	wms := func(k order.Key, kind order.Kind, minute int, tracking string) order.Event {
		e := event(order.Key{OrderNo: k.OrderNo}, string(kind)+"-"+k.OrderNo, kind, minute)
		e.Source, e.System, e.Data.TrackingNo = "wms", order.SystemWMS, tracking
		return e
	}
	courier := func(tracking string, kind order.Kind, minute int) order.Event {
		e := event(order.Key{}, string(kind)+"-"+tracking, kind, minute)
		e.Source, e.System, e.Data.TrackingNo, e.Data.Courier = "kd100", order.SystemCourier, tracking, "shunfeng"
		return e
	}

	tests := []struct {
		name    string
		batches func(k order.Key, tn string) [][]order.Event
		want    string
	}{
		{"in order", func(k order.Key, tn string) [][]order.Event {
			return [][]order.Event{{paid(k)}, {wms(k, order.KindWMSOutbound, 10, tn)}, {courier(tn, order.KindCollected, 20)}}
		}, "COLLECTED"},
		{"courier before the tracking number is known", func(k order.Key, tn string) [][]order.Event {
			return [][]order.Event{{courier(tn, order.KindCollected, 20)}, {paid(k)}, {wms(k, order.KindWMSOutbound, 10, tn)}}
		}, "COLLECTED"},
		{"WMS before the channel order", func(k order.Key, tn string) [][]order.Event {
			return [][]order.Event{{wms(k, order.KindWMSReceived, 5, "")}, {courier(tn, order.KindInTransit, 30)}, {paid(k), wms(k, order.KindWMSOutbound, 10, tn)}}
		}, "IN_TRANSIT"},
		{"all in one batch, reversed", func(k order.Key, tn string) [][]order.Event {
			return [][]order.Event{{courier(tn, order.KindCollected, 20), wms(k, order.KindWMSOutbound, 10, tn), paid(k)}}
		}, "COLLECTED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := uniqueKey("REF")
			tn := "SF" + k.OrderNo
			for _, b := range tc.batches(k, tn) {
				if _, err := p.Apply(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			r := mustLoadOrder(t, k)
			if r.Stage != tc.want {
				t.Errorf("stage %s, want %s", r.Stage, tc.want)
			}
			tw := decodeTwin(t, r.Twin)
			if tw.Details.TrackingNo != tn {
				t.Errorf("tracking number %q, want %q", tw.Details.TrackingNo, tn)
			}
			var parked int
			if err := testDB.QueryRowContext(ctx, `SELECT count(*) FROM parked_events WHERE ref_value IN (?, ?)`, k.OrderNo, tn).Scan(&parked); err != nil {
				t.Fatal(err)
			}
			if parked != 0 {
				t.Errorf("%d events still parked", parked)
			}
			checkStageCounts(t)
		})
	}

	t.Run("stays parked until its order exists", func(t *testing.T) {
		tn := "SF-NEVER-" + uniqueKey("X").OrderNo
		if _, err := p.Apply(ctx, []order.Event{courier(tn, order.KindDelivered, 40)}); err != nil {
			t.Fatal(err)
		}
		var reason string
		if err := testDB.QueryRowContext(ctx, `SELECT reason FROM parked_events WHERE ref_value = ?`, tn).Scan(&reason); err != nil {
			t.Fatalf("not parked: %v", err)
		}
	})
}
