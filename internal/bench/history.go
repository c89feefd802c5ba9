package bench

// The history `tower bench --scale N` measures the views over: N orders
// over the last Days days, generated straight into PostgreSQL (COPY), as
// the projection would have left them. Each order is a list of canonical
// events folded into its twin by domain/twin, and its figures are counted
// by domain/figures (Contribute, the code the projection and Rebuild use),
// so rollups, open gauges, stage counts, tracking numbers and the twins
// agree by construction. Alerts, work items and tags follow the default
// rules' conditions on the generated times. Everything derives from the
// seed and the order's index: a run with the same spec is the same history.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/rules"
	"github.com/towerhq/tower/domain/twin"
	ifigures "github.com/towerhq/tower/internal/figures"
)

// HistorySpec says what history to generate.
type HistorySpec struct {
	Orders int
	// Days the history spans, ending at End (the present).
	Days int
	End  time.Time
	Seed uint64
	// MinuteRetention is how far back minute rollups are written (the
	// node prunes older ones): its configuration's figures.minute_retention.
	MinuteRetention time.Duration
	Settings        figures.Settings
}

// HistoryStats are what a generation wrote.
type HistoryStats struct {
	Orders          int64            `json:"orders"`
	Events          int64            `json:"events"`
	TrackingNumbers int64            `json:"tracking_numbers"`
	Alerts          int64            `json:"alerts"`
	WorkItems       int64            `json:"work_items"`
	RollupRows      int64            `json:"rollup_rows"`
	OpenRows        int64            `json:"open_rows"`
	Stages          map[string]int64 `json:"stages"`
	// Per channel and shop, the orders created: what a test checks the
	// figures against.
	Created map[string]int64 `json:"created_per_channel"`
	Took    time.Duration    `json:"-"`
	LoadS   float64          `json:"load_seconds"`
	IndexS  float64          `json:"index_seconds"`
	End     time.Time        `json:"end"`
}

// The shape of the business: names and weights.
var (
	histChannels = []struct {
		name   string
		source string
		weight float64
		shops  []string
	}{
		{order.ChannelTmall, "tmall", 0.45, []string{"tmall-flagship", "tmall-outlet"}},
		{order.ChannelDouyin, "douyin", 0.40, []string{"douyin-live", "douyin-flagship"}},
		{order.ChannelMiniProgram, "mp-pay", 0.15, []string{"mp-brand"}},
	}
	histWarehouses = []struct {
		name   string
		weight float64
	}{{"HZ-01", 0.35}, {"SH-02", 0.25}, {"GZ-03", 0.25}, {"BJ-04", 0.15}}
	histCouriers = []struct {
		name, prefix string
		digits       int
		weight       float64
	}{{"SF", "SF", 13, 0.3}, {"ZTO", "7", 13, 0.3}, {"YTO", "YT", 13, 0.25}, {"JD", "JDV", 12, 0.15}}
	histSKUs     = []string{"LIP-01", "LIP-02", "CRM-10", "CRM-11", "MSK-20", "SRM-30", "TNR-40", "CLN-50", "SUN-60", "EYE-70"}
	histSurnames = []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭"}
	histGiven    = []string{"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明"}
	histPlaces   = []struct{ province, city, district string }{
		{"浙江省", "杭州市", "西湖区"}, {"上海市", "上海市", "浦东新区"}, {"广东省", "广州市", "天河区"}, {"北京市", "北京市", "朝阳区"},
		{"江苏省", "南京市", "鼓楼区"}, {"四川省", "成都市", "武侯区"}, {"湖北省", "武汉市", "洪山区"}, {"广东省", "深圳市", "南山区"},
	}
	// Orders per hour of the local day, relative: night lull, a morning
	// rise, and the evening live streams (20:00-22:00).
	histHourly = [24]float64{0.35, 0.2, 0.12, 0.08, 0.06, 0.08, 0.15, 0.3, 0.5, 0.75, 0.95, 1.0,
		0.9, 0.85, 0.9, 0.95, 0.9, 0.85, 0.9, 1.1, 1.6, 1.8, 1.4, 0.8}
)

// ruleInfo is what alerts and work items copy from the default rules.
type ruleInfo struct {
	name, kind, severity, queue, summary string
	tags                                 []string
}

func defaultRuleInfo() map[string]ruleInfo {
	out := map[string]ruleInfo{}
	for _, r := range rules.Defaults() {
		out[r.Name] = ruleInfo{name: r.Name, kind: r.Actions.Kind, severity: r.Actions.Severity, queue: r.Actions.Queue,
			summary: r.Description, tags: r.Actions.Tags}
	}
	return out
}

// liveBurst is the big live-stream evening of the history: two days
// before its end, 20:00-22:00 local, six times the usual orders, most of
// them on Douyin's live shop, and warehouses falling behind.
func liveBurst(end time.Time) (from, to time.Time) {
	l := end.In(figures.Shanghai).AddDate(0, 0, -2)
	from = time.Date(l.Year(), l.Month(), l.Day(), 20, 0, 0, 0, figures.Shanghai)
	return from, from.Add(2 * time.Hour)
}

// intensity is the relative rate of orders in the minute at t.
func intensity(t, start, end, burstFrom, burstTo time.Time) float64 {
	l := t.In(figures.Shanghai)
	w := histHourly[l.Hour()]
	if wd := l.Weekday(); wd == time.Saturday || wd == time.Sunday {
		w *= 1.15
	}
	// A growing business: the last day sells 1.5 times the first.
	w *= 0.8 + 0.4*t.Sub(start).Hours()/end.Sub(start).Hours()
	if !t.Before(burstFrom) && t.Before(burstTo) {
		w *= 6
	}
	return w
}

// creationTimes spreads n creation times over [start, end) by intensity,
// oldest first: each minute gets its share, rounded so the total is n.
func creationTimes(n int, start, end time.Time, seed uint64) []time.Time {
	bf, bt := liveBurst(end)
	minutes := int(end.Sub(start) / time.Minute)
	ws := make([]float64, minutes)
	var total float64
	for m := range minutes {
		ws[m] = intensity(start.Add(time.Duration(m)*time.Minute), start, end, bf, bt)
		total += ws[m]
	}
	r := rand.New(rand.NewPCG(seed, 0x5ca1e))
	out := make([]time.Time, 0, n)
	var acc float64
	for m := range minutes {
		acc += ws[m] / total * float64(n)
		k := int(math.Round(acc)) - len(out)
		if m == minutes-1 {
			k = n - len(out)
		}
		at := start.Add(time.Duration(m) * time.Minute)
		secs := make([]int, 0, k)
		for range k {
			secs = append(secs, r.IntN(60_000))
		}
		// Sorted within the minute, so ids follow creation.
		sortInts(secs)
		for _, s := range secs {
			out = append(out, at.Add(time.Duration(s)*time.Millisecond))
		}
	}
	return out
}

func sortInts(s []int) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// genOrder is one generated order and what it leaves in the tables.
type genOrder struct {
	twin    *twin.Twin
	events  []order.Event
	tags    []string
	alerts  []genAlert
	tracked string
}

type genAlert struct {
	rule                 ruleInfo
	since, raised        time.Time
	state                string
	ackAt, resolvedAt    time.Time
	workStatus, assignee string
}

// orderNo is order i's channel order number: distinct for distinct i
// (multiplying by a number prime to 10 permutes the residues).
func orderNo(channel string, i int) string {
	switch channel {
	case order.ChannelTmall:
		return "4" + pad(uint64(i)*2654435761%1e17, 17)
	case order.ChannelDouyin:
		return "69" + pad(uint64(i)*40503%1e17, 17)
	default:
		return "MP" + pad(uint64(i)*9973%1e14, 14)
	}
}

func trackingNo(prefix string, digits, i int) string {
	m := uint64(math.Pow10(digits))
	return prefix + pad(uint64(i)*104729%m, digits)
}

func pad(v uint64, n int) string {
	s := strconv.FormatUint(v, 10)
	if len(s) < n {
		s = strings.Repeat("0", n-len(s)) + s
	}
	return s
}

func pickWeighted[T any](r *rand.Rand, xs []T, weight func(T) float64) T {
	x := r.Float64()
	for _, v := range xs {
		if x -= weight(v); x < 0 {
			return v
		}
	}
	return xs[len(xs)-1]
}

// lognormal draws a duration with the given median and spread.
func lognormal(r *rand.Rand, median time.Duration, sigma float64) time.Duration {
	return time.Duration(float64(median) * math.Exp(sigma*r.NormFloat64()))
}

func uniform(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

// workingHours moves t into the warehouse's shift (08:00-23:00 local).
func workingHours(t time.Time) time.Time {
	l := t.In(figures.Shanghai)
	switch h := l.Hour(); {
	case h < 8:
		return time.Date(l.Year(), l.Month(), l.Day(), 8, 0, 0, 0, figures.Shanghai).Add(time.Duration(l.Minute()) * time.Minute)
	case h >= 23:
		return time.Date(l.Year(), l.Month(), l.Day()+1, 8, 0, 0, 0, figures.Shanghai).Add(time.Duration(l.Minute()) * time.Minute)
	}
	return t
}

// generate builds order i created at created, as of end.
func generate(i int, created, end time.Time, seed uint64, ri map[string]ruleInfo, burstFrom, burstTo time.Time) (g genOrder) {
	r := rand.New(rand.NewPCG(seed, uint64(i)+1))
	inBurst := !created.Before(burstFrom) && created.Before(burstTo)
	live := inBurst || func() bool { h := created.In(figures.Shanghai).Hour(); return h >= 20 && h < 22 }()
	ch := pickWeighted(r, histChannels, func(c struct {
		name   string
		source string
		weight float64
		shops  []string
	}) float64 {
		if live && c.name == order.ChannelDouyin {
			return c.weight + 0.3 // read against a total above 1: Douyin takes the spare share
		}
		return c.weight
	})
	shop := ch.shops[r.IntN(len(ch.shops))]
	if live && ch.name == order.ChannelDouyin && r.Float64() < 0.8 {
		shop = "douyin-live"
	}
	wh := pickWeighted(r, histWarehouses, func(w struct {
		name   string
		weight float64
	}) float64 {
		return w.weight
	}).name
	cr := pickWeighted(r, histCouriers, func(c struct {
		name, prefix string
		digits       int
		weight       float64
	}) float64 {
		return c.weight
	})
	k := order.Key{Channel: ch.name, OrderNo: orderNo(ch.name, i)}
	tn := trackingNo(cr.prefix, cr.digits, i)

	var evs []order.Event
	add := func(kind order.Kind, at time.Time, source, id string, d order.Data) bool {
		if !at.Before(end) {
			return false // not happened yet
		}
		evs = append(evs, order.Event{ID: id, Source: source, Kind: kind, System: kind.DefaultSystem(),
			OccurredAt: at.UTC(), Order: k, Data: d})
		return true
	}
	chID := func(s string) string { return k.OrderNo + "-" + s }
	wmsID := func(s string) string { return "WMS" + k.OrderNo + "-" + s }
	crID := func(s string) string { return tn + "-" + s }

	items := make([]order.Item, 1+r.IntN(3))
	var amount order.Money
	for j := range items {
		items[j] = order.Item{SKU: histSKUs[r.IntN(len(histSKUs))], Qty: 1 + r.IntN(2), Price: order.Money(2990 + r.IntN(40)*500)}
		amount += items[j].Price * order.Money(items[j].Qty)
	}
	place := histPlaces[r.IntN(len(histPlaces))]
	phone := "1" + strconv.Itoa(3+r.IntN(7)) + pad(uint64(r.Int64N(1e9)), 9)
	shipBy := created.Add(48 * time.Hour)
	if ch.name == order.ChannelMiniProgram {
		shipBy = created.Add(72 * time.Hour)
	}
	pl := created.In(figures.Shanghai).AddDate(0, 0, 5)
	promisedBy := time.Date(pl.Year(), pl.Month(), pl.Day(), 23, 59, 59, 0, figures.Shanghai)
	shipByU, promisedByU := shipBy.UTC(), promisedBy.UTC()
	add(order.KindCreated, created, ch.source, chID("created"), order.Data{
		Amount: &amount, Currency: "CNY", BuyerIP: fmt.Sprintf("101.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254)),
		BuyerID: "b" + pad(uint64(r.Int64N(1e8)), 8), Shop: shop, Items: items,
		Receiver: &order.Receiver{Name: histSurnames[r.IntN(len(histSurnames))] + histGiven[r.IntN(len(histGiven))], Phone: phone,
			Province: place.province, City: place.city, District: place.district, Address: fmt.Sprintf("文三路 %d 号 %d 室", 1+r.IntN(500), 100+r.IntN(2000))},
		ShipBy: &shipByU, PromisedBy: &promisedByU,
	})
	alert := func(rule string, since, resolved time.Time) {
		info, ok := ri[rule]
		if !ok || !since.Before(end) {
			return
		}
		a := genAlert{rule: info, since: since, raised: since.Add(uniform(r, 200*time.Millisecond, 5*time.Second)), state: "FIRING", workStatus: "open"}
		if !a.raised.Before(end) {
			return
		}
		if !resolved.IsZero() && resolved.Before(end) {
			a.state, a.resolvedAt, a.workStatus, a.assignee = "RESOLVED", resolved, "resolved", "ops-"+strconv.Itoa(1+r.IntN(12))
		} else if r.Float64() < 0.3 {
			a.state, a.ackAt, a.workStatus, a.assignee = "ACKNOWLEDGED", a.raised.Add(uniform(r, time.Minute, time.Hour)), "claimed", "ops-"+strconv.Itoa(1+r.IntN(12))
			if !a.ackAt.Before(end) {
				a.state, a.ackAt, a.workStatus, a.assignee = "FIRING", time.Time{}, "open", ""
			}
		}
		g.alerts = append(g.alerts, a)
		g.tags = append(g.tags, info.tags...)
	}
	defer func() {
		t := twin.New(k)
		t.ApplyAll(evs)
		g.twin, g.events = t, evs
	}()

	if r.Float64() < 0.04 { // never paid: closed by the channel after 30 minutes
		add(order.KindCancelled, created.Add(30*time.Minute), ch.source, chID("cancelled"), order.Data{Reason: "unpaid"})
		return g
	}
	paid := created.Add(lognormal(r, 40*time.Second, 1.2))
	if !add(order.KindPaid, paid, ch.source, chID("paid"), order.Data{Amount: &amount}) {
		return g
	}
	if r.Float64() < 0.02 { // cancelled before the warehouse had it
		add(order.KindCancelled, paid.Add(uniform(r, time.Minute, 8*time.Minute)), ch.source, chID("cancelled"), order.Data{Reason: "buyer"})
		return g
	}
	received := paid.Add(lognormal(r, 90*time.Second, 0.7))
	stuck := r.Float64() < 0.004 // the ERP did not pass it on for hours
	if stuck {
		received = paid.Add(uniform(r, 2*time.Hour, 20*time.Hour))
	}
	if received.Sub(paid) > 10*time.Minute {
		alert("paid_not_in_wms", paid.Add(10*time.Minute), received)
	}
	lateShipDone := func(out time.Time) {
		if out.After(shipBy) {
			alert("late_ship", shipBy, out)
		}
	}
	if !add(order.KindWMSReceived, received, "wms", wmsID("received"), order.Data{Warehouse: wh}) {
		lateShipDone(end.Add(time.Hour))
		return g
	}
	picked := workingHours(received).Add(lognormal(r, 40*time.Minute, 0.8))
	if inBurst {
		picked = picked.Add(uniform(r, 2*time.Hour, 30*time.Hour)) // the burst's backlog
	}
	if r.Float64() < 0.03 {
		picked = picked.Add(uniform(r, 20*time.Hour, 60*time.Hour)) // stock shortage
	}
	if !add(order.KindWMSPicked, picked, "wms", wmsID("picked"), order.Data{Warehouse: wh}) {
		lateShipDone(end.Add(time.Hour))
		return g
	}
	if r.Float64() < 0.01 { // cancelled while picked: the parcel is held
		at := picked.Add(uniform(r, time.Minute, time.Hour))
		if add(order.KindCancelled, at, ch.source, chID("cancelled"), order.Data{Reason: "buyer"}) {
			alert("cancelled_after_picking", at, at.Add(uniform(r, 10*time.Minute, 3*time.Hour)))
		}
		return g
	}
	packed := workingHours(picked.Add(lognormal(r, 12*time.Minute, 0.6)))
	station := fmt.Sprintf("%s-P%d", wh[:2], 1+r.IntN(6))
	packer := fmt.Sprintf("%s-%03d", strings.ToLower(wh[:2]), 1+r.IntN(40))
	if !add(order.KindWMSPacked, packed, "wms", wmsID("packed"), order.Data{Warehouse: wh, Station: station, Packer: packer}) {
		lateShipDone(end.Add(time.Hour))
		return g
	}
	outbound := packed.Add(lognormal(r, 70*time.Minute, 0.7))
	if !add(order.KindWMSOutbound, outbound, "wms", wmsID("outbound"), order.Data{Warehouse: wh, Courier: cr.name, TrackingNo: tn}) {
		lateShipDone(end.Add(time.Hour))
		return g
	}
	lateShipDone(outbound)
	g.tracked = tn
	collected := outbound.Add(lognormal(r, 6*time.Minute, 0.6))
	if r.Float64() < 0.01 {
		collected = outbound.Add(uniform(r, 2*time.Hour, 30*time.Hour))
	}
	if collected.Sub(outbound) > 10*time.Minute {
		alert("outbound_not_collected", outbound.Add(10*time.Minute), collected)
	}
	if !add(order.KindCollected, collected, "kd100", crID("collected"), order.Data{Courier: cr.name, TrackingNo: tn}) {
		return g
	}
	deliveredAt := collected.Add(lognormal(r, 40*time.Hour, 0.45))
	if deliveredAt.After(promisedBy) {
		alert("late_delivery", promisedBy, deliveredAt)
	}
	if r.Float64() < 0.5 {
		add(order.KindInTransit, collected.Add(uniform(r, 2*time.Hour, 10*time.Hour)), "kd100", crID("in_transit"), order.Data{Courier: cr.name, TrackingNo: tn})
	}
	if r.Float64() < 0.3 {
		add(order.KindOutForDelivery, deliveredAt.Add(-uniform(r, time.Hour, 4*time.Hour)), "kd100", crID("out_for_delivery"), order.Data{Courier: cr.name, TrackingNo: tn})
	}
	if r.Float64() < 0.012 { // the first attempt failed
		if !add(order.KindDeliveryFailed, deliveredAt, "kd100", crID("failed"), order.Data{Courier: cr.name, TrackingNo: tn, Reason: "无人签收"}) {
			return g
		}
		if r.Float64() < 0.3 {
			back := deliveredAt.Add(uniform(r, 48*time.Hour, 96*time.Hour))
			alert("delivery_failed", deliveredAt, back)
			if add(order.KindReturned, back, "kd100", crID("returned"), order.Data{Courier: cr.name, TrackingNo: tn}) {
				alert("returned", back, back.Add(uniform(r, time.Hour, 24*time.Hour)))
			}
			return g
		}
		again := deliveredAt.Add(uniform(r, 20*time.Hour, 30*time.Hour))
		alert("delivery_failed", deliveredAt, again)
		deliveredAt = again
	}
	if !add(order.KindDelivered, deliveredAt, "kd100", crID("delivered"), order.Data{Courier: cr.name, TrackingNo: tn}) {
		return g
	}
	if r.Float64() < 0.015 { // refunded after delivery
		req := deliveredAt.Add(uniform(r, 6*time.Hour, 5*24*time.Hour))
		if add(order.KindRefundRequested, req, ch.source, chID("refund_requested"), order.Data{Reason: "不喜欢"}) {
			add(order.KindRefundCompleted, req.Add(uniform(r, 2*time.Hour, 48*time.Hour)), ch.source, chID("refund_completed"), order.Data{Amount: &amount})
		}
	}
	return g
}

// chunk is a run of generated orders, ready to copy, with the rollup rows
// they make (ifigures.Rollups.AddRows: minute rows within the retention).
type chunk struct {
	first    int
	orders   [][]any
	events   [][]any
	tracking [][]any
	alerts   [][]any
	work     [][]any
	rollups  map[ifigures.RollupKey]int64
	open     figures.Counts
	stages   map[twin.Stage]int64
	created  map[string]int64
}

// buildChunk generates orders [from, to).
func buildChunk(from, to int, times []time.Time, spec HistorySpec, ri map[string]ruleInfo, minutesFrom time.Time) (*chunk, error) {
	bf, bt := liveBurst(spec.End)
	c := &chunk{first: from, rollups: map[ifigures.RollupKey]int64{}, open: figures.Counts{},
		stages: map[twin.Stage]int64{}, created: map[string]int64{}}
	flows, open := figures.Counts{}, figures.Counts{}
	rollups := ifigures.New(spec.Settings)
	for i := from; i < to; i++ {
		g := generate(i, times[i], spec.End, spec.Seed, ri, bf, bt)
		t := g.twin
		doc, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("bench: encode twin %s: %w", t.Key, err)
		}
		tags := dedupe(g.tags)
		tail := ""
		if rc := t.Details.Receiver; rc != nil {
			tail = rc.PhoneTail()
		}
		projected := t.UpdatedAt.Add(time.Duration(200+i%800) * time.Millisecond)
		c.orders = append(c.orders, []any{t.Key.Channel, t.Key.OrderNo, string(t.Stage), string(doc), tags,
			t.CreatedAt, t.UpdatedAt, projected, len(g.events), tail})
		for j, e := range g.events {
			d, err := json.Marshal(e.Data)
			if err != nil {
				return nil, fmt.Errorf("bench: encode event %s: %w", e.ID, err)
			}
			c.events = append(c.events, []any{e.Source, e.ID, string(e.Kind), string(e.System), e.Order.Channel, e.Order.OrderNo,
				e.OccurredAt, e.OccurredAt.Add(time.Duration(80+(i*7+j*131)%2500) * time.Millisecond), false, string(d)})
		}
		if g.tracked != "" {
			c.tracking = append(c.tracking, []any{g.tracked, t.Key.Channel, t.Key.OrderNo, projected})
		}
		scope := t.Details.Warehouse
		if scope == "" {
			scope = t.Key.Channel
		}
		openQueues := map[string]bool{}
		for _, a := range g.alerts {
			updated := a.raised
			var ack, res any
			ackBy, resBy := any(nil), any(nil)
			if !a.ackAt.IsZero() {
				ack, ackBy, updated = a.ackAt, a.assignee, a.ackAt
			}
			if !a.resolvedAt.IsZero() {
				res, resBy, updated = a.resolvedAt, "rule", a.resolvedAt
			}
			c.alerts = append(c.alerts, []any{a.rule.name, a.rule.kind, a.rule.severity, a.state, t.Key.Channel, t.Key.OrderNo,
				scope, a.rule.summary, a.since, a.raised, ack, ackBy, res, resBy, updated, t.Details.Shop, t.Details.Warehouse})
			// One open item per queue and order (work_items_open).
			if a.rule.queue != "" && (a.workStatus == "resolved" || !openQueues[a.rule.queue]) {
				openQueues[a.rule.queue] = openQueues[a.rule.queue] || a.workStatus != "resolved"
				var assignee any
				if a.assignee != "" {
					assignee = a.assignee
				}
				c.work = append(c.work, []any{a.rule.queue, t.Key.Channel, t.Key.OrderNo, a.rule.name, a.workStatus, assignee, a.raised, updated})
			}
		}
		c.stages[t.Stage]++
		c.created[t.Key.Channel+"/"+t.Details.Shop]++

		clear(flows)
		clear(open)
		f := figures.Of(t)
		figures.Contribute(&f, spec.Settings, 1, flows, open)
		rollups.AddRows(c.rollups, flows, func(at time.Time) bool { return !at.Before(minutesFrom) })
		ifigures.AddOpen(c.open, open)
	}
	return c, nil
}

func dedupe(tags []string) []string {
	out := []string{}
	for _, t := range tags {
		dup := false
		for _, o := range out {
			dup = dup || o == t
		}
		if !dup {
			out = append(out, t)
		}
	}
	sortStrings(out)
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// chunkSize is how many orders one COPY round carries.
const chunkSize = 10_000

// bulkTables are the tables whose secondary indexes and unique
// constraints are dropped during the load and built once after it.
var bulkTables = []string{"orders", "order_events", "tracking_numbers", "alerts", "work_items", "figure_rollups", "figure_open"}

// keyedTables also lose their primary key during the load: their rows do
// not arrive in key order (the others' keys are serial ids).
var keyedTables = []string{"figure_rollups", "figure_open"}

// GenerateHistory writes the history of spec into the migrated, empty
// database at dsn, reporting progress (orders done) as it goes.
func GenerateHistory(ctx context.Context, dsn string, spec HistorySpec, progress func(done int, phase string)) (HistoryStats, error) {
	if spec.Days <= 0 {
		spec.Days = 90
	}
	if spec.Settings.Location == nil {
		spec.Settings = figures.DefaultSettings()
	}
	if spec.MinuteRetention <= 0 {
		spec.MinuteRetention = 48 * time.Hour
	}
	spec.End = spec.End.UTC().Truncate(time.Millisecond)
	started := time.Now()
	st := HistoryStats{Stages: map[string]int64{}, Created: map[string]int64{}, End: spec.End}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return st, fmt.Errorf("bench: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, q := range []string{`SET synchronous_commit = off`, `SET maintenance_work_mem = '1GB'`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return st, fmt.Errorf("bench: %s: %w", q, err)
		}
	}
	rebuild, err := dropIndexes(ctx, conn, bulkTables)
	if err != nil {
		return st, err
	}

	start := spec.End.Add(-time.Duration(spec.Days) * 24 * time.Hour)
	times := creationTimes(spec.Orders, start, spec.End, spec.Seed)
	ri := defaultRuleInfo()
	minutesFrom := spec.End.Add(-spec.MinuteRetention).Truncate(time.Minute)

	// Two generators (one per core), one writer: the writer copies chunks
	// in order while the next ones are built.
	type result struct {
		c   *chunk
		err error
	}
	nChunks := (spec.Orders + chunkSize - 1) / chunkSize
	slots := make([]chan result, nChunks)
	for i := range slots {
		slots[i] = make(chan result, 1)
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range nChunks {
			select {
			case next <- i:
			case <-gctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	ahead := make(chan struct{}, 4) // chunks built but not yet copied
	for range 2 {
		wg.Go(func() {
			for i := range next {
				select {
				case ahead <- struct{}{}:
				case <-gctx.Done():
					return
				}
				from := i * chunkSize
				c, err := buildChunk(from, min(from+chunkSize, spec.Orders), times, spec, ri, minutesFrom)
				slots[i] <- result{c, err}
			}
		})
	}
	defer wg.Wait()

	rollups, open := map[ifigures.RollupKey]int64{}, figures.Counts{}
	done := 0
	for i := range nChunks {
		var res result
		select {
		case res = <-slots[i]:
		case <-ctx.Done():
			return st, ctx.Err()
		}
		<-ahead
		if res.err != nil {
			return st, res.err
		}
		c := res.c
		if err := copyChunk(ctx, conn, c); err != nil {
			return st, err
		}
		for k, n := range c.rollups {
			rollups[k] += n
		}
		for k, n := range c.open {
			open[k] += n
		}
		for s, n := range c.stages {
			st.Stages[string(s)] += n
		}
		for k, n := range c.created {
			st.Created[k] += n
		}
		st.Orders += int64(len(c.orders))
		st.Events += int64(len(c.events))
		st.TrackingNumbers += int64(len(c.tracking))
		st.Alerts += int64(len(c.alerts))
		st.WorkItems += int64(len(c.work))
		done += len(c.orders)
		progress(done, "orders")
	}
	progress(done, "rollups")
	if st.RollupRows, st.OpenRows, err = copyFigures(ctx, conn, rollups, open, spec); err != nil {
		return st, err
	}
	if err := finish(ctx, conn, st.Stages, spec); err != nil {
		return st, err
	}
	st.LoadS = time.Since(started).Seconds()
	progress(done, "indexes")
	t0 := time.Now()
	for _, q := range rebuild {
		if _, err := conn.Exec(ctx, q); err != nil {
			return st, fmt.Errorf("bench: rebuild index (%s): %w", q, err)
		}
	}
	for _, t := range bulkTables {
		if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+t); err != nil {
			return st, fmt.Errorf("bench: vacuum %s: %w", t, err)
		}
	}
	st.IndexS = time.Since(t0).Seconds()
	st.Took = time.Since(started)
	return st, nil
}

// dropIndexes drops the secondary indexes and unique constraints of
// tables and returns the statements that build them again.
func dropIndexes(ctx context.Context, conn *pgx.Conn, tables []string) ([]string, error) {
	var rebuild, drop []string
	rows, err := conn.Query(ctx, `
		SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
		FROM pg_constraint c WHERE c.conrelid::regclass::text = ANY($1)
			AND (c.contype = 'u' OR (c.contype = 'p' AND c.conrelid::regclass::text = ANY($2)))`, tables, keyedTables)
	if err != nil {
		return nil, fmt.Errorf("bench: list constraints: %w", err)
	}
	for rows.Next() {
		var t, name, def string
		if err := rows.Scan(&t, &name, &def); err != nil {
			rows.Close()
			return nil, err
		}
		drop = append(drop, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", t, pgx.Identifier{name}.Sanitize()))
		rebuild = append(rebuild, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", t, pgx.Identifier{name}.Sanitize(), def))
	}
	rows.Close()
	rows, err = conn.Query(ctx, `
		SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
		FROM pg_index i WHERE i.indrelid::regclass::text = ANY($1) AND NOT i.indisprimary
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`, tables)
	if err != nil {
		return nil, fmt.Errorf("bench: list indexes: %w", err)
	}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			rows.Close()
			return nil, err
		}
		drop = append(drop, "DROP INDEX "+name)
		rebuild = append(rebuild, def)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, q := range drop {
		if _, err := conn.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", q, err)
		}
	}
	return rebuild, nil
}

func copyChunk(ctx context.Context, conn *pgx.Conn, c *chunk) error {
	for _, t := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"orders", []string{"channel", "order_no", "stage", "twin", "tags", "created_at", "updated_at", "projected_at", "version", "phone_tail"}, c.orders},
		{"order_events", []string{"source", "event_id", "kind", "system", "channel", "order_no", "occurred_at", "received_at", "recovered", "data"}, c.events},
		{"tracking_numbers", []string{"tracking_no", "channel", "order_no", "learnt_at"}, c.tracking},
		{"alerts", []string{"rule", "kind", "severity", "state", "channel", "order_no", "scope", "summary", "condition_since", "raised_at",
			"acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by", "updated_at", "shop", "warehouse"}, c.alerts},
		{"work_items", []string{"queue", "channel", "order_no", "rule", "status", "assignee", "created_at", "updated_at"}, c.work},
	} {
		if len(t.rows) == 0 {
			continue
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{t.table}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
			return fmt.Errorf("bench: copy %d rows into %s (orders from %d): %w", len(t.rows), t.table, c.first, err)
		}
	}
	return nil
}

// copyFigures writes the rollups (hours and days, and minutes within the
// retention) and the open gauges.
func copyFigures(ctx context.Context, conn *pgx.Conn, rollups map[ifigures.RollupKey]int64, open figures.Counts, spec HistorySpec) (int64, int64, error) {
	rows := make([][]any, 0, len(rollups))
	// In primary key order: the key's index grows at its end instead of
	// splitting pages all over.
	for _, k := range slices.SortedFunc(maps.Keys(rollups), ifigures.CompareRollupKeys) {
		if n := rollups[k]; n != 0 {
			c := k.Cell
			rows = append(rows, []any{k.Res, c.At, c.Scope.Channel, c.Scope.Shop, c.Scope.Warehouse, c.Scope.Courier, string(c.Metric), c.Label, n})
		}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"figure_rollups"}, []string{"res", "at", "channel", "shop", "warehouse", "courier", "metric", "label", "n"},
		pgx.CopyFromRows(rows)); err != nil {
		return 0, 0, fmt.Errorf("bench: copy rollups: %w", err)
	}
	orows := make([][]any, 0, len(open))
	for k, n := range open {
		if n != 0 {
			orows = append(orows, []any{k.Scope.Channel, k.Scope.Shop, k.Scope.Warehouse, k.Scope.Courier, string(k.Metric), k.Label, k.At, n})
		}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"figure_open"}, []string{"channel", "shop", "warehouse", "courier", "metric", "label", "since", "n"},
		pgx.CopyFromRows(orows)); err != nil {
		return 0, 0, fmt.Errorf("bench: copy open gauges: %w", err)
	}
	return int64(len(rows)), int64(len(orows)), nil
}

// finish writes the stage counts and the rollups' settings (so a node
// starting on the history does not rebuild them).
func finish(ctx context.Context, conn *pgx.Conn, stages map[string]int64, spec HistorySpec) error {
	for s, n := range stages {
		if _, err := conn.Exec(ctx, `INSERT INTO stage_counts (stage, count) VALUES ($1, $2)
			ON CONFLICT (stage) DO UPDATE SET count = stage_counts.count + excluded.count`, s, n); err != nil {
			return fmt.Errorf("bench: stage counts: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO figure_settings (id, fingerprint, built_at) VALUES (true, $1, $2)
		ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, built_at = excluded.built_at`,
		spec.Settings.Fingerprint(), spec.End); err != nil {
		return fmt.Errorf("bench: figure settings: %w", err)
	}
	return nil
}
