package rules

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
)

// ruleCase is one example for one default rule. For an immediate rule the
// events are applied to the twin and the last one is the trigger
// (evaluated at its own time unless now is set); for a deadline rule the
// events are applied and the expression is evaluated with event = nil at
// t0+now.
type ruleCase struct {
	rule     string
	name     string
	events   []order.Event
	features Features
	now      time.Duration
	want     bool
}

func addr(a string) opt { return receiver(func(r *order.Receiver) { r.Address = a }) }

func defaultCases() []ruleCase {
	qty := func(qs ...int) opt {
		return data(func(d *order.Data) {
			d.Items = nil
			for i, q := range qs {
				d.Items = append(d.Items, order.Item{SKU: "SKU-" + string(rune('A'+i)), Qty: q, Price: 1000})
			}
		})
	}
	phone := func(p string) opt { return receiver(func(r *order.Receiver) { r.Phone = p }) }
	province := func(p string) opt { return receiver(func(r *order.Receiver) { r.Province = p }) }
	message := func(m string) opt { return data(func(d *order.Data) { d.BuyerMessage = m }) }

	return []ruleCase{
		{rule: "vague_address", name: "vague word and no number", events: []order.Event{created(addr("人民路菜市场后面"))}, want: true},
		{rule: "vague_address", name: "vague word with number", events: []order.Event{created(addr("文三路90号对面的小卖部"))}, want: true},
		{rule: "vague_address", name: "no house number", events: []order.Event{created(addr("幸福小区"))}, want: true},
		{rule: "vague_address", name: "changed to a vague address", events: []order.Event{created(), paid(),
			ev(order.KindAddressChanged, time.Hour, addr("学校路口旁边"))}, want: true},
		{rule: "vague_address", name: "full address", events: []order.Event{created()}, want: false},
		{rule: "vague_address", name: "digits-digits", events: []order.Event{created(addr("幸福小区3-2-501"))}, want: false},
		{rule: "vague_address", name: "chinese numerals", events: []order.Event{created(addr("幸福小区五号楼二单元"))}, want: false},
		{rule: "vague_address", name: "no receiver yet", events: []order.Event{created(data(func(d *order.Data) { d.Receiver = nil }))}, want: false},
		{rule: "vague_address", name: "changed to a good address", events: []order.Event{created(addr("菜市场后面")),
			ev(order.KindAddressChanged, time.Hour, addr("文一路8号"))}, want: false},

		{rule: "ip_burst", name: "6 orders from the IP", events: []order.Event{created()}, features: Features{OrdersFromIP1h: 6}, want: true},
		{rule: "ip_burst", name: "5 orders from the IP", events: []order.Event{created()}, features: Features{OrdersFromIP1h: 5}, want: false},
		{rule: "ip_burst", name: "no IP", events: []order.Event{created(data(func(d *order.Data) { d.BuyerIP = "" }))}, features: Features{OrdersFromIP1h: 9}, want: false},

		{rule: "receiver_burst", name: "phone", events: []order.Event{created()}, features: Features{OrdersFromPhone1h: 6}, want: true},
		{rule: "receiver_burst", name: "address", events: []order.Event{created()}, features: Features{OrdersFromAddress1h: 7}, want: true},
		{rule: "receiver_burst", name: "at the limit", events: []order.Event{created()}, features: Features{OrdersFromPhone1h: 5, OrdersFromAddress1h: 5}, want: false},

		{rule: "amount_outlier", name: "over 3x the buyer mean", events: []order.Event{created(), paid()},
			features: Features{BuyerOrderCount: 3, BuyerMeanAmount: 50}, want: true},
		{rule: "amount_outlier", name: "over 3x the shop mean", events: []order.Event{created(), paid()},
			features: Features{ShopOrderCount: 20, ShopMeanAmount: 60}, want: true},
		{rule: "amount_outlier", name: "judged at creation, before payment", events: []order.Event{created()},
			features: Features{ShopOrderCount: 20, ShopMeanAmount: 60}, want: true},
		{rule: "amount_outlier", name: "over 3x the main item's mean", events: []order.Event{created(), paid()},
			features: Features{ShopOrderCount: 500, ShopMeanAmount: 100, SKUOrderCount: 20, SKUMeanAmount: 30}, want: true},
		{rule: "amount_outlier", name: "too little main item history", events: []order.Event{created(), paid()},
			features: Features{ShopOrderCount: 500, ShopMeanAmount: 100, SKUOrderCount: 19, SKUMeanAmount: 30}, want: false},
		{rule: "amount_outlier", name: "too little buyer history", events: []order.Event{created(), paid()},
			features: Features{BuyerOrderCount: 2, BuyerMeanAmount: 50, ShopOrderCount: 19, ShopMeanAmount: 10}, want: false},
		{rule: "amount_outlier", name: "within 3x", events: []order.Event{created(), paid()},
			features: Features{BuyerOrderCount: 10, BuyerMeanAmount: 70, ShopOrderCount: 500, ShopMeanAmount: 100}, want: false},
		{rule: "amount_outlier", name: "no history", events: []order.Event{created(), paid()}, want: false},

		{rule: "phone_malformed", name: "10 digits", events: []order.Event{created(phone("1380013800"))}, want: true},
		{rule: "phone_malformed", name: "starts 12", events: []order.Event{created(phone("12800138000"))}, want: true},
		{rule: "phone_malformed", name: "landline", events: []order.Event{created(phone("0571-88886666"))}, want: true},
		{rule: "phone_malformed", name: "valid", events: []order.Event{created()}, want: false},
		{rule: "phone_malformed", name: "masked", events: []order.Event{created(phone("138****8000"))}, want: false},
		{rule: "phone_malformed", name: "+86 with spaces", events: []order.Event{created(phone("+86 138 0013 8000"))}, want: false},
		{rule: "phone_malformed", name: "privacy number", events: []order.Event{created(phone("13800138000-1234"))}, want: false},

		{rule: "duplicate_order", name: "second in 10 minutes", events: []order.Event{created()}, features: Features{SamePhoneAddressItem10m: 2}, want: true},
		{rule: "duplicate_order", name: "first", events: []order.Event{created()}, features: Features{SamePhoneAddressItem10m: 1}, want: false},

		{rule: "large_quantity", name: "10 over two lines", events: []order.Event{created(qty(6, 4))}, want: true},
		{rule: "large_quantity", name: "9", events: []order.Event{created(qty(5, 4))}, want: false},

		{rule: "buyer_message_urgent_or_address", name: "urgent", events: []order.Event{created(message("麻烦加急发货，谢谢"))}, want: true},
		{rule: "buyer_message_urgent_or_address", name: "address", events: []order.Event{created(), paid(message("我要改地址"))}, want: true},
		{rule: "buyer_message_urgent_or_address", name: "thanks", events: []order.Event{created(message("谢谢老板"))}, want: false},
		{rule: "buyer_message_urgent_or_address", name: "no message", events: []order.Event{created()}, want: false},

		{rule: "remote_region", name: "xinjiang full name", events: []order.Event{created(province("新疆维吾尔自治区"))}, want: true},
		{rule: "remote_region", name: "tibet", events: []order.Event{created(province("西藏"))}, want: true},
		{rule: "remote_region", name: "zhejiang", events: []order.Event{created()}, want: false},

		{rule: "recovered_event", name: "recovered", events: plus(happy(order.KindWMSReceived), ev(order.KindWMSPicked, time.Hour, recovered())), want: true},
		{rule: "recovered_event", name: "pushed", events: happy(order.KindWMSPicked), want: false},

		{rule: "refund_after_outbound", name: "after outbound", events: plus(happy(order.KindWMSOutbound),
			ev(order.KindRefundRequested, 3*time.Hour+time.Minute)), want: true},
		{rule: "refund_after_outbound", name: "in transit", events: plus(happy(order.KindInTransit),
			ev(order.KindRefundRequested, 12*time.Hour)), want: true},
		{rule: "refund_after_outbound", name: "before outbound", events: plus(happy(order.KindWMSPacked),
			ev(order.KindRefundRequested, 2*time.Hour+time.Minute)), want: false},
		{rule: "refund_after_outbound", name: "after delivery", events: plus(happy(order.KindDelivered),
			ev(order.KindRefundRequested, 40*time.Hour)), want: false},

		{rule: "address_change_after_wms", name: "in the warehouse", events: plus(happy(order.KindWMSReceived),
			ev(order.KindAddressChanged, 30*time.Minute, addr("文一路8号"))), want: true},
		{rule: "address_change_after_wms", name: "before the warehouse", events: plus(happy(order.KindPaid),
			ev(order.KindAddressChanged, 2*time.Minute, addr("文一路8号"))), want: false},

		{rule: "cancelled_after_picking", name: "picked", events: plus(happy(order.KindWMSPicked),
			ev(order.KindCancelled, 90*time.Minute)), want: true},
		{rule: "cancelled_after_picking", name: "only received", events: plus(happy(order.KindWMSReceived),
			ev(order.KindCancelled, 30*time.Minute)), want: false},
		{rule: "cancelled_after_picking", name: "already outbound", events: plus(happy(order.KindWMSOutbound),
			ev(order.KindCancelled, 3*time.Hour+time.Minute)), want: false},

		// Deadline rules: evaluated at t0+now with event = nil.
		{rule: "paid_not_in_wms", name: "nothing from the WMS", events: happy(order.KindPaid), now: 11 * time.Minute, want: true},
		{rule: "paid_not_in_wms", name: "received", events: happy(order.KindWMSReceived), now: 11 * time.Minute, want: false},
		{rule: "paid_not_in_wms", name: "received lost, picked arrived", events: plus(happy(order.KindPaid),
			ev(order.KindWMSPicked, 8*time.Minute)), now: 11 * time.Minute, want: false},
		{rule: "paid_not_in_wms", name: "cancelled", events: plus(happy(order.KindPaid),
			ev(order.KindCancelled, 3*time.Minute)), now: 11 * time.Minute, want: false},

		{rule: "late_ship", name: "not out at shipBy", events: happy(order.KindWMSPacked), now: 48 * time.Hour, want: true},
		{rule: "late_ship", name: "out", events: happy(order.KindWMSOutbound), now: 48 * time.Hour, want: false},
		{rule: "late_ship", name: "outbound lost, collected", events: plus(happy(order.KindWMSPacked),
			ev(order.KindCollected, 5*time.Hour)), now: 48 * time.Hour, want: false},
		{rule: "late_ship", name: "cancelled", events: plus(happy(order.KindPaid),
			ev(order.KindCancelled, time.Hour)), now: 48 * time.Hour, want: false},

		{rule: "erp_wms_divergence", name: "only the ERP says outbound", events: plus(happy(order.KindWMSPacked),
			ev(order.KindWMSOutbound, 3*time.Hour, sys(order.SystemERP))), now: 3*time.Hour + 30*time.Minute, want: true},
		{rule: "erp_wms_divergence", name: "both say outbound", events: plus(happy(order.KindWMSOutbound),
			ev(order.KindWMSOutbound, 3*time.Hour+time.Minute, sys(order.SystemERP))), now: 3*time.Hour + 31*time.Minute, want: false},

		{rule: "outbound_not_collected", name: "not collected", events: happy(order.KindWMSOutbound), now: 3*time.Hour + 10*time.Minute, want: true},
		{rule: "outbound_not_collected", name: "collected", events: plus(happy(order.KindWMSOutbound),
			ev(order.KindCollected, 3*time.Hour+5*time.Minute)), now: 3*time.Hour + 10*time.Minute, want: false},
		{rule: "outbound_not_collected", name: "collected lost, in transit", events: plus(happy(order.KindWMSOutbound),
			ev(order.KindInTransit, 3*time.Hour+5*time.Minute)), now: 3*time.Hour + 10*time.Minute, want: false},

		{rule: "no_courier_update_24h", name: "silent for 24h", events: happy(order.KindCollected), now: 28 * time.Hour, want: true},
		{rule: "no_courier_update_24h", name: "updated since", events: happy(order.KindInTransit), now: 28 * time.Hour, want: false},

		{rule: "late_delivery", name: "not delivered at promisedBy", events: happy(order.KindOutForDelivery), now: 96 * time.Hour, want: true},
		{rule: "late_delivery", name: "delivered", events: happy(order.KindDelivered), now: 96 * time.Hour, want: false},
		{rule: "late_delivery", name: "returned", events: plus(happy(order.KindInTransit),
			ev(order.KindReturned, 50*time.Hour)), now: 96 * time.Hour, want: false},

		{rule: "delivery_failed", name: "failed", events: plus(happy(order.KindOutForDelivery),
			ev(order.KindDeliveryFailed, 31*time.Hour)), want: true},
		{rule: "delivery_failed", name: "late failure after delivery", events: plus(happy(order.KindDelivered),
			ev(order.KindDeliveryFailed, 31*time.Hour, data(func(d *order.Data) { d.Reason = "联系不上" }))), want: false},

		{rule: "returned", name: "returned", events: plus(happy(order.KindInTransit),
			ev(order.KindReturned, 50*time.Hour)), want: true},
		{rule: "returned", name: "already refunded", events: plus(happy(order.KindInTransit),
			ev(order.KindRefundCompleted, 40*time.Hour), ev(order.KindReturned, 50*time.Hour)), want: false},
	}
}

func TestDefaults(t *testing.T) {
	ps, err := CompileAll(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	byName := make(map[string]*Program, len(ps))
	for _, p := range ps {
		byName[p.Name()] = p
	}

	type count struct{ pos, neg int }
	counts := make(map[string]*count)
	for _, c := range defaultCases() {
		t.Run(c.rule+"/"+strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			p := byName[c.rule]
			if p == nil {
				t.Fatalf("no default rule %q", c.rule)
			}
			tw := twinOf(c.events...)
			var env Env
			if p.Deadline() {
				if c.now == 0 {
					t.Fatal("a deadline case needs now")
				}
				env = NewEnv(nil, tw, c.features, t0.Add(c.now))
			} else {
				trigger := c.events[len(c.events)-1]
				if !p.Listens(trigger.Kind) {
					t.Fatalf("rule does not listen to the trigger %s", trigger.Kind)
				}
				now := trigger.OccurredAt
				if c.now != 0 {
					now = t0.Add(c.now)
				}
				env = NewEnv(&trigger, tw, c.features, now)
			}
			got, err := p.Eval(env)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != c.want {
				t.Errorf("got %v, want %v (stage %s, systems %v)", got, c.want, tw.Stage, env.Twin)
			}
		})
		n := counts[c.rule]
		if n == nil {
			n = &count{}
			counts[c.rule] = n
		}
		if c.want {
			n.pos++
		} else {
			n.neg++
		}
	}
	for _, r := range Defaults() {
		if n := counts[r.Name]; n == nil || n.pos == 0 || n.neg == 0 {
			t.Errorf("default rule %s needs a positive and a negative case", r.Name)
		}
	}
}

func TestDefaultsShape(t *testing.T) {
	rs := Defaults()
	if len(rs) < 18 || len(rs) > 25 {
		t.Errorf("%d default rules, want about 20", len(rs))
	}
	required := []string{
		"vague_address", "ip_burst", "amount_outlier", "phone_malformed", "duplicate_order",
		"refund_after_outbound", "address_change_after_wms", "buyer_message_urgent_or_address",
		"remote_region", "paid_not_in_wms", "outbound_not_collected", "no_courier_update_24h",
		"late_ship", "late_delivery", "delivery_failed", "cancelled_after_picking", "returned",
		"erp_wms_divergence", "large_quantity",
	}
	names := make(map[string]Rule)
	for _, r := range rs {
		names[r.Name] = r
		if !r.Enabled || r.Version != 1 {
			t.Errorf("%s: enabled %v version %d, want enabled version 1", r.Name, r.Enabled, r.Version)
		}
		if !hasHan(r.Description) {
			t.Errorf("%s: description %q is not Chinese", r.Name, r.Description)
		}
		if err := Validate(r); err != nil {
			t.Error(err)
		}
	}
	for _, n := range required {
		if _, ok := names[n]; !ok {
			t.Errorf("default rule %s missing", n)
		}
	}
	// Spot-check the actions the brief fixes.
	checks := []struct {
		rule  string
		queue string
		sev   string
		kind  string
		alert bool
	}{
		{"vague_address", QueueCustomerService, SeverityWarning, AlertSuspiciousAddress, true},
		{"ip_burst", QueueRiskReview, SeverityWarning, AlertIPBurst, true},
		{"amount_outlier", QueueRiskReview, SeverityWarning, AlertAmountOutlier, true},
		{"refund_after_outbound", QueueLogisticsFollowUp, SeverityCritical, AlertRefundAfterOutbound, true},
		{"address_change_after_wms", QueueWarehouseHold, SeverityCritical, AlertAddressChangeAfterWMS, true},
		{"buyer_message_urgent_or_address", QueueCustomerService, SeverityInfo, "", false},
		{"remote_region", QueueNone, SeverityInfo, "", false},
		{"paid_not_in_wms", QueueNone, SeverityWarning, AlertDivergence, true},
		{"outbound_not_collected", QueueLogisticsFollowUp, SeverityCritical, AlertNotCollected, true},
		{"late_ship", QueueLogisticsFollowUp, SeverityCritical, AlertLateShip, true},
		{"delivery_failed", QueueLogisticsFollowUp, SeverityWarning, AlertDeliveryFailed, true},
		{"cancelled_after_picking", QueueWarehouseHold, SeverityWarning, AlertCancelledAfterPicking, true},
		{"returned", QueueCustomerService, SeverityWarning, AlertReturned, true},
		{"large_quantity", QueueRiskReview, SeverityInfo, "", false},
	}
	for _, c := range checks {
		a := names[c.rule].Actions
		if a.Queue != c.queue || a.Severity != c.sev || a.Kind != c.kind || a.Alert != c.alert {
			t.Errorf("%s: actions %+v, want queue %q severity %q kind %q alert %v", c.rule, a, c.queue, c.sev, c.kind, c.alert)
		}
	}
	if got := names["vague_address"].Actions.Tags; len(got) != 1 || got[0] != "地址模糊" {
		t.Errorf("vague_address tags %v", got)
	}
	if got := names["remote_region"].Actions.Tags; len(got) != 1 || got[0] != "偏远地区" {
		t.Errorf("remote_region tags %v", got)
	}
	// Defaults returns fresh slices each call, and no two rules share one.
	const sentinel = order.Kind("test.sentinel")
	rs[0].On[0] = sentinel
	for _, r := range rs[1:] {
		if slices.Contains(r.On, sentinel) {
			t.Errorf("%s shares vague_address's On slice", r.Name)
		}
	}
	if Defaults()[0].On[0] == sentinel {
		t.Error("Defaults shares its slices between calls")
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}
