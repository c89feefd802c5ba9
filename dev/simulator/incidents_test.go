package simulator

import (
	"testing"
	"time"

	"github.com/towerhq/tower/domain/incident"
)

// A simulated day's stalled warehouse (its courier collects nothing for a
// while) is what incidents are for: the not_collected alerts it causes,
// grouped by the default rule, make at least one incident, all of the
// stalled warehouse, and the scattered fake outbounds of the rest of the
// day make none.
func TestStalledWarehouseMakesAnIncident(t *testing.T) {
	live := Defaults()
	live.Orders = 10_000
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"live-stream day", live},
		{"gentle day of make run", GentleDay(7, 20_000, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := Generate(tc.cfg)
			byKey := map[incident.Key][]incident.Member{}
			id := int64(0)
			for _, o := range p.Orders {
				for _, tr := range o.Truths {
					if tr.Kind != "not_collected" && tr.Kind != "fake_outbound" {
						continue
					}
					// The default rule raises not_collected when the truth
					// becomes true (ten minutes after outbound).
					k, ok := incident.CauseOf("not_collected", o.Warehouse, o.Courier)
					if !ok {
						t.Fatalf("order %s: no cause for %s/%s", o.Key, o.Warehouse, o.Courier)
					}
					id++
					byKey[k] = append(byKey[k], incident.Member{AlertID: id, Kind: "not_collected", Channel: o.Key.Channel,
						OrderNo: o.Key.OrderNo, Warehouse: o.Warehouse, Courier: o.Courier, At: tr.Since})
				}
			}
			incidents := 0
			for k, ms := range byKey {
				cs := incident.Group(incident.Config{}, ms, time.Time{})
				if len(cs) > 0 && k.Warehouse() != tc.cfg.Faults.StalledWarehouse {
					t.Errorf("%s: %d incidents outside the stalled warehouse", k, len(cs))
				}
				incidents += len(cs)
				for _, c := range cs {
					t.Logf("%s: %d alerts from %s to %s", k, len(c.Members), c.Start.Format(time.TimeOnly), c.LastSeen.Format(time.TimeOnly))
				}
			}
			if incidents == 0 {
				t.Fatalf("no incident in the day (%d causes)", len(byKey))
			}
		})
	}
}
