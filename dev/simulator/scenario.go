// Package simulator plays a fulfilment day against a running Tower over real
// HTTP, in the wire formats and signatures of every platform, with the
// faults and abnormal orders of real life, and writes the ground truth so
// detection can be scored. Generation is deterministic for a seed.
package simulator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/internal/platforms/platformtest"
)

// Config shapes the simulated day.
type Config struct {
	Seed int64
	// Orders in the whole day.
	Orders int
	// BurstShare of the day's orders arrive in the hour after the live
	// stream ends at BurstAt (offset from the day's start).
	BurstShare float64
	BurstAt    time.Duration
	// Start is the simulated day's first instant.
	Start time.Time
	// Duration of the simulated window (default 24h); orders are placed in
	// it and their lifecycles may run past it.
	Duration time.Duration
	Faults   Faults
	Abnormal Abnormal
}

// Faults are what goes wrong between systems.
type Faults struct {
	DuplicateRate float64 // share of pushes sent twice
	ReorderRate   float64 // share of pushes delayed past the next one
	LostRate      float64 // share of channel pushes never sent (recoverable by reconciliation)
	// StalledWarehouse's courier stops collecting during [StallFrom, StallTo).
	StalledWarehouse   string
	StallFrom, StallTo time.Duration
	FakeOutboundRate   float64 // WMS says outbound, the parcel never leaves
}

// Abnormal are the orders the rules should catch.
type Abnormal struct {
	VagueAddressRate        float64
	IPBursts                int // groups of 6+ orders from one IP within an hour
	AmountOutlierRate       float64
	RefundAfterOutboundRate float64
	AddressChangeAfterWMS   float64
}

// Defaults is a realistic live-stream day: 150k orders, 70k in the hour
// after the stream ends at 21:00 (Asia/Shanghai), every fault switched on.
func Defaults() Config {
	shanghai := time.FixedZone("CST", 8*3600)
	return Config{
		Seed: 1, Orders: 150_000, BurstShare: 70.0 / 150, BurstAt: 21 * time.Hour,
		Start:    time.Date(2026, 11, 11, 0, 0, 0, 0, shanghai),
		Duration: 24 * time.Hour,
		Faults: Faults{
			DuplicateRate: 0.03, ReorderRate: 0.05, LostRate: 0.01,
			StalledWarehouse: "GZ-03", StallFrom: 21*time.Hour + 30*time.Minute, StallTo: 23 * time.Hour,
			FakeOutboundRate: 0.002,
		},
		Abnormal: Abnormal{
			VagueAddressRate: 0.004, IPBursts: 20, AmountOutlierRate: 0.003,
			RefundAfterOutboundRate: 0.003, AddressChangeAfterWMS: 0.003,
		},
	}
}

// Truth records what the simulator made happen to an order, for scoring.
type Truth struct {
	Order order.Key `json:"order"`
	// Kind is what went wrong: vague_address, ip_burst, amount_outlier,
	// refund_after_outbound, address_change_after_wms, not_collected,
	// fake_outbound, lost_push.
	Kind string `json:"kind"`
	// Since is when the condition became true (simulated time).
	Since  time.Time `json:"since"`
	Detail string    `json:"detail,omitempty"`
}

// Order is one simulated order and what should become of it.
type Order struct {
	Key        order.Key  `json:"order"`
	Warehouse  string     `json:"warehouse"`
	Courier    string     `json:"courier"`
	TrackingNo string     `json:"trackingNo"`
	Final      twin.Stage `json:"finalStage"`
	Truths     []Truth    `json:"truths,omitempty"`
	// Events is the order's intended lifecycle, in simulated time.
	Events []order.Event `json:"-"`
}

// Shipment is what a platform's push knows of the order.
func (o *Order) Shipment() *platformtest.Shipment {
	return &platformtest.Shipment{Warehouse: o.Warehouse, Courier: o.Courier, TrackingNo: o.TrackingNo, Events: o.Events}
}

// Send is one push the simulator makes.
type Send struct {
	At    time.Time // simulated time it is sent
	Order int       // index in Plan.Orders
	Event order.Event
	Dup   bool // a repeat of an earlier send
}

// Plan is a generated day.
type Plan struct {
	Config Config
	Orders []Order
	// Sends, ordered by At.
	Sends []Send
	// Lost are channel events never pushed (reconciliation must find them).
	Lost []Send
}

var (
	warehouses = []string{"HZ-01", "SH-02", "GZ-03"}
	couriers   = []string{"SF", "YTO", "ZTO", "JD"}
	provinces  = []struct{ province, city, district string }{
		{"浙江省", "杭州市", "西湖区"}, {"上海市", "上海市", "浦东新区"}, {"广东省", "广州市", "天河区"},
		{"北京市", "北京市", "朝阳区"}, {"四川省", "成都市", "武侯区"}, {"江苏省", "南京市", "鼓楼区"},
	}
	streets  = []string{"文三路", "南京路", "天河路", "建国路", "人民南路", "中山路"}
	surnames = []rune("王李张刘陈杨黄赵吴周")
	givens   = []rune("伟芳娜敏静丽强磊军洋")
	skus     = []struct {
		sku   string
		price order.Money
	}{{"LIP-01", 6495}, {"CRM-02", 12900}, {"SRM-03", 25900}, {"MSK-04", 3990}}
	vagueAddr = []string{"万达广场后面", "地铁站附近", "学校对面那栋楼", "菜市场旁边"}
)

// Generate builds the day for cfg. Same config, same plan.
func Generate(cfg Config) *Plan {
	if cfg.Duration == 0 {
		cfg.Duration = 24 * time.Hour
	}
	r := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x70776572))
	p := &Plan{Config: cfg}
	g := &gen{r: r, cfg: cfg}
	// IP bursts: groups of 6–9 orders from one address within 40 minutes.
	var forced []forcedOrder
	for b := range cfg.Abnormal.IPBursts {
		ip := fmt.Sprintf("203.0.113.%d", 10+b)
		at := g.placed()
		n := 6 + g.r.IntN(4)
		// 1–6 minutes apart, so the nth order is the nth in time and all
		// nine fit in 48 minutes: the 6th onwards have five before them
		// within the hour.
		for j := range n {
			if j > 0 {
				at = at.Add(time.Duration(1+g.r.IntN(6)) * time.Minute)
			}
			forced = append(forced, forcedOrder{at: at, ip: ip, nth: j + 1})
		}
	}
	for i := range cfg.Orders {
		var f *forcedOrder
		if i < len(forced) {
			f = &forced[i]
		}
		p.Orders = append(p.Orders, g.order(i, f))
	}
	for i := range p.Orders {
		g.sends(p, i)
	}
	slices.SortStableFunc(p.Sends, func(a, b Send) int { return a.At.Compare(b.At) })
	return p
}

type gen struct {
	r   *rand.Rand
	cfg Config
	ipN int
}

func (g *gen) chance(p float64) bool { return p > 0 && g.r.Float64() < p }

// placed returns when order i is created: a base curve over the day with a
// burst in the hour after the stream.
func (g *gen) placed() time.Time {
	c := g.cfg
	if g.chance(c.BurstShare) && c.BurstAt < c.Duration {
		// Most of the burst comes in the first minutes after the stream.
		off := time.Duration(-math.Log(1-g.r.Float64()*0.98) / 3 * float64(time.Hour))
		return c.Start.Add(c.BurstAt + min(off, time.Hour-time.Second))
	}
	// Base traffic: more in the day than at night.
	for {
		off := time.Duration(g.r.Int64N(int64(c.Duration)))
		h := float64(off) / float64(time.Hour)
		w := 0.3 + 0.7*math.Max(0, math.Sin((h-6)/24*2*math.Pi))
		if g.r.Float64() < w {
			return c.Start.Add(off)
		}
	}
}

// forcedOrder places an order of an IP burst.
type forcedOrder struct {
	at  time.Time
	ip  string
	nth int // position in its burst, from 1
}

func (g *gen) pick(ss []string) string { return ss[g.r.IntN(len(ss))] }

func (g *gen) order(i int, forced *forcedOrder) Order {
	c := g.cfg
	var ch string
	switch x := g.r.Float64(); {
	case x < 0.45:
		ch = order.ChannelDouyin
	case x < 0.85:
		ch = order.ChannelTmall
	default:
		ch = order.ChannelMiniProgram
	}
	no := fmt.Sprintf("%s%d%07d", map[string]string{"douyin": "69", "tmall": "31", "miniprogram": "MP"}[ch], c.Seed%100, i)
	o := Order{Key: order.Key{Channel: ch, OrderNo: no}, Warehouse: g.pick(warehouses), Courier: g.pick(couriers)}
	o.TrackingNo = fmt.Sprintf("%s%010d", o.Courier, int64(c.Seed%7)*1_000_000_000+int64(i))
	created := g.placed()
	if forced != nil {
		created = forced.at
	}
	pv := provinces[g.r.IntN(len(provinces))]
	rcv := &order.Receiver{
		Name:     string(surnames[g.r.IntN(len(surnames))]) + string(givens[g.r.IntN(len(givens))]),
		Phone:    fmt.Sprintf("13%d%08d", g.r.IntN(10), g.r.IntN(100_000_000)),
		Province: pv.province, City: pv.city, District: pv.district,
		Address: fmt.Sprintf("%s %d 号 %d 室", g.pick(streets), 1+g.r.IntN(300), 100+g.r.IntN(2000)),
	}
	buyer := fmt.Sprintf("b%06d", g.r.IntN(60_000))
	ip := fmt.Sprintf("10.%d.%d.%d", g.r.IntN(256), g.r.IntN(256), 1+g.r.IntN(254))
	if forced != nil {
		ip = forced.ip
		// From the 6th order on, the address has placed more than 5 in an hour.
		if forced.nth >= 6 {
			o.Truths = append(o.Truths, Truth{Order: o.Key, Kind: "ip_burst", Since: created, Detail: ip})
		}
	}
	sku := skus[g.r.IntN(len(skus))]
	// Baskets vary within about 2x of the norm; outliers are ten times it.
	qty := 1 + g.r.IntN(2)
	amount := sku.price * order.Money(qty)
	if g.chance(c.Abnormal.AmountOutlierRate) {
		qty *= 10
		amount = sku.price * order.Money(qty)
		o.Truths = append(o.Truths, Truth{Order: o.Key, Kind: "amount_outlier", Since: created, Detail: amount.String()})
	}
	if g.chance(c.Abnormal.VagueAddressRate) {
		rcv.Address = g.pick(vagueAddr)
		o.Truths = append(o.Truths, Truth{Order: o.Key, Kind: "vague_address", Since: created, Detail: rcv.Address})
	}
	shipBy := created.Add(48 * time.Hour)
	promised := created.Add(5 * 24 * time.Hour)
	data := order.Data{
		Amount: &amount, Currency: "CNY", BuyerIP: ip, BuyerID: buyer, Shop: "flagship-" + ch,
		Receiver: rcv, Items: []order.Item{{SKU: sku.sku, Qty: qty, Price: sku.price}},
		Warehouse: o.Warehouse, ShipBy: &shipBy, PromisedBy: &promised,
	}
	at := created
	add := func(k order.Kind, after time.Duration, d order.Data) time.Time {
		at = at.Add(after)
		o.Events = append(o.Events, order.Event{
			ID: fmt.Sprintf("%s-%s", no, k.Status()), Kind: k, System: k.DefaultSystem(), OccurredAt: at, Order: o.Key, Data: d,
		})
		return at
	}
	secs := func(lo, hi int) time.Duration { return time.Duration(lo+g.r.IntN(hi-lo+1)) * time.Second }
	mins := func(lo, hi int) time.Duration { return time.Duration(lo+g.r.IntN(hi-lo+1)) * time.Minute }

	add(order.KindCreated, 0, data)
	if ch != order.ChannelMiniProgram {
		// Platform pushes carry little of the order (no address, no buyer
		// IP); the brand's ERP, which pulls the details, pushes them to
		// Tower as its own view of the order.
		at = at.Add(secs(1, 5))
		o.Events = append(o.Events, order.Event{
			ID: no + "-erp-created", Kind: order.KindCreated, System: order.SystemERP, OccurredAt: at, Order: o.Key, Data: data,
		})
	}
	paid := add(order.KindPaid, secs(5, 90), order.Data{Amount: &amount, Currency: "CNY"})
	if g.chance(0.02) { // cancelled before the warehouse
		add(order.KindCancelled, mins(1, 20), order.Data{Reason: "买家取消"})
		o.Final = twin.StageCancelled
		return o
	}
	_ = paid
	wmsData := order.Data{Warehouse: o.Warehouse}
	received := add(order.KindWMSReceived, secs(2, 20), wmsData)
	if g.chance(c.Abnormal.AddressChangeAfterWMS) {
		moved := *rcv
		moved.Address = fmt.Sprintf("%s %d 号", g.pick(streets), 1+g.r.IntN(300))
		t := add(order.KindAddressChanged, mins(1, 30), order.Data{Receiver: &moved})
		o.Truths = append(o.Truths, Truth{Order: o.Key, Kind: "address_change_after_wms", Since: t})
	}
	_ = received
	add(order.KindWMSPicked, mins(5, 40), wmsData)
	// A dozen packers per warehouse, taken by order number (no random
	// draw, so a seed's plan is what it was).
	packed := wmsData
	packed.Packer = fmt.Sprintf("%s-P%02d", o.Warehouse, 1+i%12)
	add(order.KindWMSPacked, mins(2, 15), packed)
	out := add(order.KindWMSOutbound, mins(5, 30), order.Data{Warehouse: o.Warehouse, Courier: o.Courier, TrackingNo: o.TrackingNo})
	if g.chance(c.Abnormal.RefundAfterOutboundRate) {
		t := add(order.KindRefundRequested, mins(5, 60), order.Data{Amount: &amount, Reason: "不想要了"})
		o.Truths = append(o.Truths, Truth{Order: o.Key, Kind: "refund_after_outbound", Since: t})
		at = out
	}
	stalled := o.Warehouse == c.Faults.StalledWarehouse && !out.Before(c.Start.Add(c.Faults.StallFrom)) && out.Before(c.Start.Add(c.Faults.StallTo))
	if g.chance(c.Faults.FakeOutboundRate) || stalled {
		kind := "not_collected"
		if !stalled {
			kind = "fake_outbound"
		}
		o.Truths = append(o.Truths, Truth{Order: o.Key, Kind: kind, Since: out.Add(10 * time.Minute)})
		o.Final = twin.StageOutbound
		return o
	}
	courierData := order.Data{Courier: o.Courier, TrackingNo: o.TrackingNo}
	// Couriers collect within minutes of outbound (the default deadline is
	// 10 minutes); the stalled warehouse and fake outbounds are the exceptions.
	add(order.KindCollected, mins(2, 8), courierData)
	add(order.KindInTransit, mins(60, 240), courierData)
	add(order.KindOutForDelivery, mins(24*60, 60*60), courierData)
	if g.chance(0.01) {
		add(order.KindDeliveryFailed, mins(60, 240), order.Data{Courier: o.Courier, TrackingNo: o.TrackingNo, Reason: "收件人电话无人接听"})
		o.Final = twin.StageDeliveryFailed
		return o
	}
	add(order.KindDelivered, mins(60, 240), courierData)
	o.Final = twin.StageDelivered
	return o
}

// sends schedules an order's pushes with duplicates, reordering and loss.
func (g *gen) sends(p *Plan, i int) {
	f := g.cfg.Faults
	o := &p.Orders[i]
	for _, e := range o.Events {
		// Each system pushes a little after the fact.
		at := e.OccurredAt.Add(time.Duration(200+g.r.IntN(1800)) * time.Millisecond)
		if g.chance(f.ReorderRate) {
			// Late enough to overtake the next push, not so late that a
			// system looks silent past a deadline.
			at = at.Add(time.Duration(5+g.r.IntN(240)) * time.Second)
		}
		s := Send{At: at, Order: i, Event: e}
		// Only channel pushes can be recovered by reconciliation; the
		// order's creation stays (a pull lists only known orders).
		if e.System == order.SystemChannel && e.Kind != order.KindCreated && g.chance(f.LostRate) {
			p.Lost = append(p.Lost, s)
			o.Truths = append(o.Truths, Truth{Order: o.Key, Kind: "lost_push", Since: e.OccurredAt, Detail: string(e.Kind)})
			continue
		}
		p.Sends = append(p.Sends, s)
		if g.chance(f.DuplicateRate) {
			p.Sends = append(p.Sends, Send{At: at.Add(time.Duration(1+g.r.IntN(120)) * time.Second), Order: i, Event: e, Dup: true})
		}
	}
}
