package simulator

import (
	"reflect"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
)

func smallConfig() Config {
	c := Defaults()
	c.Orders = 3000
	return c
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(smallConfig()), Generate(smallConfig())
	if !reflect.DeepEqual(a.Sends, b.Sends) || !reflect.DeepEqual(a.Orders, b.Orders) {
		t.Fatal("same seed, different plans")
	}
	c := smallConfig()
	c.Seed = 2
	if reflect.DeepEqual(Generate(c).Sends, a.Sends) {
		t.Fatal("different seeds, same plan")
	}
}

// Folding each order's intended events gives the stage the ground truth
// promises: the plan is coherent with Tower's own stage machine.
func TestPlanFinalStagesMatchTheTwin(t *testing.T) {
	p := Generate(smallConfig())
	kinds := map[string]int{}
	for _, o := range p.Orders {
		tw := twin.New(o.Key)
		tw.ApplyAll(o.Events)
		if tw.Stage != o.Final {
			t.Fatalf("order %s: twin stage %s, plan says %s", o.Key, tw.Stage, o.Final)
		}
		for _, tr := range o.Truths {
			kinds[tr.Kind]++
		}
	}
	for _, k := range []string{"ip_burst", "amount_outlier", "vague_address", "refund_after_outbound", "address_change_after_wms", "not_collected", "lost_push"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in a 3000-order day (%v)", k, kinds)
		}
	}
}

func TestSendsAreOrderedAndFaulty(t *testing.T) {
	p := Generate(smallConfig())
	dups := 0
	for i, s := range p.Sends {
		if i > 0 && s.At.Before(p.Sends[i-1].At) {
			t.Fatal("sends not ordered by time")
		}
		if s.Dup {
			dups++
		}
	}
	if dups == 0 || len(p.Lost) == 0 {
		t.Fatalf("dups %d lost %d: faults missing", dups, len(p.Lost))
	}
	for _, l := range p.Lost {
		if l.Event.System != order.SystemChannel {
			t.Fatalf("lost a %s push: only channel pushes are recoverable", l.Event.System)
		}
	}
}

func TestBurstShapesTheDay(t *testing.T) {
	c := smallConfig()
	p := Generate(c)
	inBurst := 0
	from, to := c.Start.Add(c.BurstAt), c.Start.Add(c.BurstAt+time.Hour)
	for _, o := range p.Orders {
		at := o.Events[0].OccurredAt
		if !at.Before(from) && at.Before(to) {
			inBurst++
		}
	}
	share := float64(inBurst) / float64(len(p.Orders))
	if share < 0.4 || share > 0.55 {
		t.Fatalf("%.2f of orders in the burst hour, want about 0.47", share)
	}
}

// An order is an ip_burst truth exactly when five or more orders from its IP
// were created in the hour before it: the truth matches what the default
// rule can see, whatever order the burst's orders were generated in.
func TestIPBurstTruthsMatchTheWindow(t *testing.T) {
	p := Generate(smallConfig())
	byIP := map[string][]time.Time{}
	for _, o := range p.Orders {
		for _, e := range o.Events {
			if e.Kind == order.KindCreated && e.Data.BuyerIP != "" {
				byIP[e.Data.BuyerIP] = append(byIP[e.Data.BuyerIP], e.OccurredAt)
				break
			}
		}
	}
	bursts := 0
	for _, o := range p.Orders {
		var created time.Time
		var ip string
		for _, e := range o.Events {
			if e.Kind == order.KindCreated && e.Data.BuyerIP != "" {
				created, ip = e.OccurredAt, e.Data.BuyerIP
				break
			}
		}
		before := 0
		for _, at := range byIP[ip] {
			if at.Before(created) && created.Sub(at) < time.Hour {
				before++
			}
		}
		truth := false
		for _, tr := range o.Truths {
			truth = truth || tr.Kind == "ip_burst"
		}
		if truth != (before >= 5) {
			t.Fatalf("order %s from %s: %d orders in the hour before, ip_burst truth %v", o.Key, ip, before, truth)
		}
		if truth {
			bursts++
		}
	}
	if bursts == 0 {
		t.Fatal("no ip_burst truths")
	}
}
