package twin

import (
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
)

// The answers customer service reads out, on hand-built twins. t0 is
// 2026-03-01 09:00 UTC, 17:00 in Shanghai.
func TestExplain(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	paidAt := func(min int, d order.Data) []order.Event {
		return []order.Event{ev("c1", order.KindCreated, 0, d), ev("c2", order.KindPaid, min, order.Data{})}
	}
	promised := order.Data{PromisedBy: ptime(at(24 * 60))} // tomorrow, 17:00 Shanghai
	upTo := func(n int) []order.Event { return lifecycle()[:n] }
	plus := func(es []order.Event, more ...order.Event) []order.Event {
		return append(append([]order.Event{}, es...), more...)
	}
	outbound := []order.Event{
		ev("c1", order.KindCreated, 0, promised), ev("c2", order.KindPaid, 1, order.Data{}),
		ev("w1", order.KindWMSReceived, 10, order.Data{Warehouse: "HZ-01"}),
		ev("w4", order.KindWMSOutbound, 60, order.Data{Courier: "SF", TrackingNo: "SF1234567"}),
	}
	tests := []struct {
		name      string
		events    []order.Event
		now       int // minutes after t0
		state     AnswerState
		shipped   bool
		divergent bool
		zh, en    string
	}{
		{name: "not paid", events: []order.Event{ev("c1", order.KindCreated, 0, order.Data{})}, now: 5,
			state: AnswerNotPaid, zh: "订单尚未付款", en: "Not paid yet"},
		{name: "paid, waiting for the WMS", events: paidAt(1, order.Data{ShipBy: ptime(at(60))}), now: 13,
			state: AnswerAwaitingWarehouse, zh: "已付款，仓库尚未接单（已 12 分钟），需在18:00前出库",
			en: "Paid; the warehouse has not taken the order yet (12 minutes), due to leave by 18:00"},
		{name: "packed, past its ship-by", events: plus(paidAt(1, order.Data{ShipBy: ptime(at(60))}),
			ev("w1", order.KindWMSReceived, 10, order.Data{}), ev("w3", order.KindWMSPacked, 30, order.Data{})), now: 90,
			state: AnswerInWarehouse, zh: "仓库已打包，待出库，尚未发出，已超过发货时限（18:00）",
			en: "Packed in the warehouse, waiting to leave; not shipped yet, past its ship-by time (18:00)"},
		{name: "outbound, courier silent", events: outbound, now: 85,
			state: AnswerNotCollected, divergent: true,
			zh: "仓库显示已出库，但快递尚无揽收记录（已 25 分钟）——尚未真正发出",
			en: "The warehouse says outbound, but no courier has collected it (25 minutes): not really shipped yet"},
		{name: "outbound and collected", events: plus(outbound, ev("k1", order.KindCollected, 220, order.Data{TrackingNo: "SF1234567"})), now: 240,
			state: AnswerShipped, shipped: true,
			zh: "已出库，快递已揽收（顺丰 SF1234567，20:40），预计明天送达",
			en: "Shipped and collected by the courier (SF Express SF1234567, 20:40), expected tomorrow"},
		{name: "collection lost, in transit", events: plus(outbound, ev("k2", order.KindInTransit, 220, order.Data{})), now: 240,
			state: AnswerShipped, shipped: true,
			zh: "已出库，快递已揽收（顺丰 SF1234567，20:40），运输中（最新 20:40），预计明天送达",
			en: "Shipped and collected by the courier (SF Express SF1234567, 20:40), in transit (latest scan 20:40), expected tomorrow"},
		{name: "courier has it, WMS never said outbound", events: plus(paidAt(1, order.Data{}),
			ev("w1", order.KindWMSReceived, 10, order.Data{}), ev("k1", order.KindCollected, 60, order.Data{Courier: "ZTO", TrackingNo: "ZT9"})), now: 70,
			state: AnswerShipped, shipped: true, divergent: true,
			zh: "快递已揽收（中通 ZT9，18:00），但仓库尚无出库记录（系统不一致，包裹确已发出）",
			en: "Collected by the courier (ZTO ZT9, 18:00), but the warehouse has no outbound record (systems disagree; the parcel has left)"},
		{name: "late delivery", events: upTo(9), now: 90 * 60,
			state: AnswerShipped, shipped: true,
			zh: "已出库，快递已揽收（顺丰 SF123，3月1日 20:00），正在派送，已超过承诺送达时间（昨天 17:00）",
			en: "Shipped and collected by the courier (SF Express SF123, Mar 1 20:00), out for delivery, past the promised delivery time (yesterday 17:00)"},
		{name: "delivered", events: lifecycle(), now: 1510,
			state: AnswerDelivered, shipped: true, zh: "已签收（18:00）", en: "Delivered (18:00)"},
		{name: "delivery failed", events: plus(upTo(8), ev("k5", order.KindDeliveryFailed, 1450, order.Data{})), now: 1460,
			state: AnswerDeliveryFailed, shipped: true, zh: "派送失败（17:10），快递将再次派送或退回",
			en: "Delivery failed (17:10); the courier will try again or return it"},
		{name: "cancelled before it left", events: plus(paidAt(1, order.Data{}), ev("c3", order.KindCancelled, 5, order.Data{})), now: 10,
			state: AnswerCancelled, zh: "订单已取消，不会发货", en: "Cancelled; it will not ship"},
		{name: "cancelled, yet the warehouse shipped it", events: plus(paidAt(1, order.Data{}), ev("c3", order.KindCancelled, 5, order.Data{}),
			ev("w4", order.KindWMSOutbound, 30, order.Data{})), now: 40,
			state: AnswerCancelled, divergent: true, zh: "订单已取消，但仓库或快递显示包裹已发出——需要拦截",
			en: "Cancelled, but the warehouse or the courier says the parcel has left: it must be stopped"},
		{name: "refunded before shipping", events: plus(paidAt(1, order.Data{}), ev("r1", order.KindRefundCompleted, 30, order.Data{})), now: 40,
			state: AnswerRefunded, zh: "已退款，未发货", en: "Refunded; not shipped"},
		{name: "refunded after collection", events: plus(upTo(7), ev("r1", order.KindRefundCompleted, 300, order.Data{})), now: 310,
			state: AnswerRefunded, shipped: true, zh: "已退款（包裹此前已由快递揽收）", en: "Refunded (the courier had collected the parcel)"},
		{name: "returned", events: plus(upTo(8), ev("k6", order.KindReturned, 2000, order.Data{})), now: 2010,
			state: AnswerReturned, shipped: true, zh: "包裹已退回（02:20）", en: "Returned to the sender (02:20)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := Explain(build(tc.events...), at(tc.now))
			if a.State != tc.state || a.Shipped != tc.shipped || a.Divergent != tc.divergent {
				t.Errorf("state %s shipped %v divergent %v, want %s %v %v", a.State, a.Shipped, a.Divergent, tc.state, tc.shipped, tc.divergent)
			}
			if got := a.Text(ZhCN, shanghai); got != tc.zh {
				t.Errorf("zh-CN:\n got %s\nwant %s", got, tc.zh)
			}
			if got := a.Text(EnUS, shanghai); got != tc.en {
				t.Errorf("en-US:\n got %s\nwant %s", got, tc.en)
			}
		})
	}
}

// Arrival order does not change the answer: it is read from the twin.
func TestExplainArrivalOrder(t *testing.T) {
	t.Parallel()
	es := lifecycle()[:7]
	rev := make([]order.Event, len(es))
	for i := range es {
		rev[len(es)-1-i] = es[i]
	}
	a, b := Explain(build(es...), at(200)), Explain(build(rev...), at(200))
	if a.Text(ZhCN, time.UTC) != b.Text(ZhCN, time.UTC) {
		t.Fatalf("%q != %q", a.Text(ZhCN, time.UTC), b.Text(ZhCN, time.UTC))
	}
}

func TestParseLanguage(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Language{"zh-CN": ZhCN, "en-US": EnUS, "EN": EnUS, "": ZhCN, "fr": ZhCN} {
		if got := ParseLanguage(in); got != want {
			t.Errorf("%q: %v", in, got)
		}
	}
}
