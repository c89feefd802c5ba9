package ingest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
)

// A commit's events reach a partitioned bus as one message per partition:
// every event once, each order's events in their order and in one message,
// and each message keyed to the partition of all its orders.
func TestPartitionMessages(t *testing.T) {
	var evs []order.Event
	for i := range 60 {
		evs = append(evs, order.Event{ID: fmt.Sprint(i), Source: "erp",
			Order: order.Key{Channel: "tmall", OrderNo: fmt.Sprint("T", i%13)}})
	}
	for _, n := range []int{1, 2, 16} {
		t.Run(fmt.Sprint(n, " partitions"), func(t *testing.T) {
			msgs, err := partitionMessages(evs, n)
			if err != nil {
				t.Fatal(err)
			}
			if want := min(n, 13); len(msgs) > want || (n == 1 && len(msgs) != 1) {
				t.Fatalf("%d messages for %d partitions", len(msgs), n)
			}
			where := map[order.Key]int{}
			last := map[order.Key]int{}
			total := 0
			for mi, m := range msgs {
				var b events.OrderEventsBatch
				if err := json.Unmarshal(m.Payload, &b); err != nil {
					t.Fatal(err)
				}
				p := events.PartitionOf(m.Metadata.Get(events.MetaPartitionKey), n)
				for _, e := range b.Events {
					total++
					if got := events.PartitionOf(e.Order.String(), n); got != p {
						t.Errorf("order %s (partition %d) in a message keyed to partition %d", e.Order, got, p)
					}
					if w, ok := where[e.Order]; ok && w != mi {
						t.Errorf("order %s split over messages %d and %d", e.Order, w, mi)
					}
					where[e.Order] = mi
					var id int
					fmt.Sscan(e.ID, &id)
					if l, ok := last[e.Order]; ok && id < l {
						t.Errorf("order %s: event %d after %d", e.Order, id, l)
					}
					last[e.Order] = id
				}
			}
			if total != len(evs) {
				t.Errorf("%d events published, %d committed", total, len(evs))
			}
		})
	}
}
