package twin

import (
	"fmt"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
)

// AnswerState is the closed set of answers to "where is it, and has it
// really shipped?". The values are stable API words.
type AnswerState struct{ s string }

var (
	AnswerNotPaid           = AnswerState{"not_paid"}
	AnswerAwaitingWarehouse = AnswerState{"awaiting_warehouse"} // paid, the WMS has not taken it
	AnswerInWarehouse       = AnswerState{"in_warehouse"}       // received, picked or packed
	AnswerNotCollected      = AnswerState{"outbound_not_collected"}
	AnswerShipped           = AnswerState{"shipped"} // a courier has it
	AnswerDelivered         = AnswerState{"delivered"}
	AnswerDeliveryFailed    = AnswerState{"delivery_failed"}
	AnswerCancelled         = AnswerState{"cancelled"}
	AnswerRefunded          = AnswerState{"refunded"}
	AnswerReturned          = AnswerState{"returned"}
)

func (s AnswerState) String() string { return s.s }
func (s AnswerState) IsZero() bool   { return s.s == "" }

// Answer is what customer service tells the buyer, taken from the twin
// alone: the stage says what the systems claim, the courier's own events
// say whether the parcel really left. Build it with Explain.
type Answer struct {
	State AnswerState
	// Shipped: a courier has reported the parcel (collected, or any later
	// scan when the collection event was lost).
	Shipped bool
	// Divergent: the systems disagree in a way the buyer would notice: the
	// WMS says outbound and the courier is silent, the courier has it and
	// the WMS never said outbound, or a cancelled order left the warehouse.
	Divergent bool
	// Since is when the current state began (outbound for
	// outbound_not_collected, payment for awaiting_warehouse, the courier's
	// first scan for shipped, ...); zero when unknown.
	Since time.Time

	stage                 Stage
	courier, trackingNo   string
	collectedAt, latestAt time.Time
	shipBy, promisedBy    *time.Time
	now                   time.Time
}

// courierProgress are the courier's kinds that prove it holds the parcel.
var courierProgress = []order.Kind{order.KindCollected, order.KindInTransit, order.KindOutForDelivery,
	order.KindDelivered, order.KindDeliveryFailed, order.KindReturned}

// Explain answers for t at now (the server's clock: "已 25 分钟" is
// measured against it).
func Explain(t *Twin, now time.Time) Answer {
	a := Answer{stage: t.Stage, courier: t.Details.Courier, trackingNo: t.Details.TrackingNo,
		shipBy: t.Details.ShipBy, promisedBy: t.Details.PromisedBy, now: now}
	// The courier's first scan, whichever kind it was (collection events
	// are lost often enough), and its latest.
	for _, e := range t.Timeline {
		if e.System != order.SystemCourier || !isCourierProgress(e.Kind) {
			continue
		}
		if a.collectedAt.IsZero() {
			a.collectedAt = e.At
		}
		a.latestAt = e.At
	}
	a.Shipped = !a.collectedAt.IsZero()
	outAt, outbound := t.FirstAt(order.KindWMSOutbound)

	switch t.Stage {
	case StageCreated:
		a.State, a.Since = AnswerNotPaid, t.CreatedAt
	case StagePaid:
		a.State = AnswerAwaitingWarehouse
		a.Since, _ = t.FirstAt(order.KindPaid)
	case StageInWarehouse, StagePicked, StagePacked:
		a.State = AnswerInWarehouse
		a.Since = t.Systems[order.SystemWMS].At
	case StageOutbound:
		a.State, a.Since, a.Divergent = AnswerNotCollected, outAt, true
	case StageCollected, StageInTransit, StageOutForDelivery:
		a.State, a.Since = AnswerShipped, a.collectedAt
		a.Divergent = !outbound
	case StageDelivered:
		a.State, a.Since = AnswerDelivered, a.latestAt
		if at, ok := t.FirstAt(order.KindDelivered); ok {
			a.Since = at
		}
	case StageDeliveryFailed:
		a.State = AnswerDeliveryFailed
		a.Since, _ = t.FirstAt(order.KindDeliveryFailed)
	case StageCancelled:
		a.State = AnswerCancelled
		a.Since, _ = t.FirstAt(order.KindCancelled)
		// Cancelled before it left, yet the warehouse or a courier says
		// it has gone: someone must stop the parcel.
		a.Divergent = outbound || a.Shipped
	case StageRefunded:
		a.State = AnswerRefunded
		a.Since, _ = t.FirstAt(order.KindRefundCompleted)
	case StageReturned:
		a.State = AnswerReturned
		a.Since, _ = t.FirstAt(order.KindReturned)
	default:
		a.State, a.Since = AnswerInWarehouse, t.UpdatedAt
	}
	return a
}

func isCourierProgress(k order.Kind) bool {
	for _, c := range courierProgress {
		if c == k {
			return true
		}
	}
	return false
}

// Language is a language the answer is written in.
type Language struct{ tag string }

var (
	ZhCN = Language{"zh-CN"}
	EnUS = Language{"en-US"}
)

// ParseLanguage reads zh-CN or en-US (any case; zh and en alone too);
// anything else is zh-CN, the language of the people who ask.
func ParseLanguage(s string) Language {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(s)), "en") {
		return EnUS
	}
	return ZhCN
}

// Text is the answer as one sentence, times shown in loc (the business
// day's zone).
func (a Answer) Text(lang Language, loc *time.Location) string {
	if lang == EnUS {
		return a.textEn(loc)
	}
	return a.textZh(loc)
}

// courierNames are the couriers' codes as people say them.
var courierNames = map[string][2]string{
	"SF": {"顺丰", "SF Express"}, "SHUNFENG": {"顺丰", "SF Express"},
	"YTO": {"圆通", "YTO"}, "YUANTONG": {"圆通", "YTO"},
	"ZTO": {"中通", "ZTO"}, "ZHONGTONG": {"中通", "ZTO"},
	"STO": {"申通", "STO"}, "SHENTONG": {"申通", "STO"},
	"YUNDA": {"韵达", "Yunda"}, "JD": {"京东", "JD Logistics"},
	"EMS": {"EMS", "EMS"}, "JTEXPRESS": {"极兔", "J&T"}, "JT": {"极兔", "J&T"},
}

func (a Answer) parcel(en bool) string {
	name := a.courier
	if n, ok := courierNames[strings.ToUpper(a.courier)]; ok {
		name = n[0]
		if en {
			name = n[1]
		}
	}
	return strings.TrimSpace(name + " " + a.trackingNo)
}

func (a Answer) textZh(loc *time.Location) string {
	var b strings.Builder
	switch a.State {
	case AnswerNotPaid:
		b.WriteString("订单尚未付款")
	case AnswerAwaitingWarehouse:
		fmt.Fprintf(&b, "已付款，仓库尚未接单（已 %s）", durZh(a.now.Sub(a.Since)))
		b.WriteString(a.shipByZh(loc))
	case AnswerInWarehouse:
		switch a.stage {
		case StagePicked:
			b.WriteString("仓库已拣货，待打包")
		case StagePacked:
			b.WriteString("仓库已打包，待出库")
		default:
			b.WriteString("仓库已接单，待拣货")
		}
		b.WriteString("，尚未发出")
		b.WriteString(a.shipByZh(loc))
	case AnswerNotCollected:
		fmt.Fprintf(&b, "仓库显示已出库，但快递尚无揽收记录（已 %s）——尚未真正发出", durZh(a.now.Sub(a.Since)))
	case AnswerShipped:
		if a.Divergent {
			b.WriteString("快递已揽收")
		} else {
			b.WriteString("已出库，快递已揽收")
		}
		b.WriteString("（")
		if p := a.parcel(false); p != "" {
			b.WriteString(p + "，")
		}
		b.WriteString(whenZh(a.collectedAt, a.now, loc) + "）")
		switch a.stage {
		case StageInTransit:
			fmt.Fprintf(&b, "，运输中（最新 %s）", whenZh(a.latestAt, a.now, loc))
		case StageOutForDelivery:
			b.WriteString("，正在派送")
		}
		if a.Divergent {
			b.WriteString("，但仓库尚无出库记录（系统不一致，包裹确已发出）")
		}
		b.WriteString(a.promisedZh(loc))
	case AnswerDelivered:
		fmt.Fprintf(&b, "已签收（%s）", whenZh(a.Since, a.now, loc))
	case AnswerDeliveryFailed:
		fmt.Fprintf(&b, "派送失败（%s），快递将再次派送或退回", whenZh(a.Since, a.now, loc))
	case AnswerCancelled:
		b.WriteString("订单已取消")
		if a.Divergent {
			b.WriteString("，但仓库或快递显示包裹已发出——需要拦截")
		} else {
			b.WriteString("，不会发货")
		}
	case AnswerRefunded:
		b.WriteString("已退款")
		if a.Shipped {
			b.WriteString("（包裹此前已由快递揽收）")
		} else {
			b.WriteString("，未发货")
		}
	case AnswerReturned:
		fmt.Fprintf(&b, "包裹已退回（%s）", whenZh(a.Since, a.now, loc))
	}
	return b.String()
}

func (a Answer) textEn(loc *time.Location) string {
	var b strings.Builder
	switch a.State {
	case AnswerNotPaid:
		b.WriteString("Not paid yet")
	case AnswerAwaitingWarehouse:
		fmt.Fprintf(&b, "Paid; the warehouse has not taken the order yet (%s)", durEn(a.now.Sub(a.Since)))
		b.WriteString(a.shipByEn(loc))
	case AnswerInWarehouse:
		switch a.stage {
		case StagePicked:
			b.WriteString("Picked in the warehouse, waiting to be packed")
		case StagePacked:
			b.WriteString("Packed in the warehouse, waiting to leave")
		default:
			b.WriteString("In the warehouse, waiting to be picked")
		}
		b.WriteString("; not shipped yet")
		b.WriteString(a.shipByEn(loc))
	case AnswerNotCollected:
		fmt.Fprintf(&b, "The warehouse says outbound, but no courier has collected it (%s): not really shipped yet", durEn(a.now.Sub(a.Since)))
	case AnswerShipped:
		if a.Divergent {
			b.WriteString("Collected by the courier")
		} else {
			b.WriteString("Shipped and collected by the courier")
		}
		b.WriteString(" (")
		if p := a.parcel(true); p != "" {
			b.WriteString(p + ", ")
		}
		b.WriteString(whenEn(a.collectedAt, a.now, loc) + ")")
		switch a.stage {
		case StageInTransit:
			fmt.Fprintf(&b, ", in transit (latest scan %s)", whenEn(a.latestAt, a.now, loc))
		case StageOutForDelivery:
			b.WriteString(", out for delivery")
		}
		if a.Divergent {
			b.WriteString(", but the warehouse has no outbound record (systems disagree; the parcel has left)")
		}
		b.WriteString(a.promisedEn(loc))
	case AnswerDelivered:
		fmt.Fprintf(&b, "Delivered (%s)", whenEn(a.Since, a.now, loc))
	case AnswerDeliveryFailed:
		fmt.Fprintf(&b, "Delivery failed (%s); the courier will try again or return it", whenEn(a.Since, a.now, loc))
	case AnswerCancelled:
		b.WriteString("Cancelled")
		if a.Divergent {
			b.WriteString(", but the warehouse or the courier says the parcel has left: it must be stopped")
		} else {
			b.WriteString("; it will not ship")
		}
	case AnswerRefunded:
		b.WriteString("Refunded")
		if a.Shipped {
			b.WriteString(" (the courier had collected the parcel)")
		} else {
			b.WriteString("; not shipped")
		}
	case AnswerReturned:
		fmt.Fprintf(&b, "Returned to the sender (%s)", whenEn(a.Since, a.now, loc))
	}
	return b.String()
}

func (a Answer) shipByZh(loc *time.Location) string {
	if a.shipBy == nil {
		return ""
	}
	if a.now.After(*a.shipBy) {
		return fmt.Sprintf("，已超过发货时限（%s）", whenZh(*a.shipBy, a.now, loc))
	}
	return fmt.Sprintf("，需在%s前出库", whenZh(*a.shipBy, a.now, loc))
}

func (a Answer) shipByEn(loc *time.Location) string {
	if a.shipBy == nil {
		return ""
	}
	if a.now.After(*a.shipBy) {
		return fmt.Sprintf(", past its ship-by time (%s)", whenEn(*a.shipBy, a.now, loc))
	}
	return fmt.Sprintf(", due to leave by %s", whenEn(*a.shipBy, a.now, loc))
}

func (a Answer) promisedZh(loc *time.Location) string {
	if a.promisedBy == nil {
		return ""
	}
	if a.now.After(*a.promisedBy) {
		return fmt.Sprintf("，已超过承诺送达时间（%s）", whenZh(*a.promisedBy, a.now, loc))
	}
	return fmt.Sprintf("，预计%s送达", dayZh(*a.promisedBy, a.now, loc))
}

func (a Answer) promisedEn(loc *time.Location) string {
	if a.promisedBy == nil {
		return ""
	}
	if a.now.After(*a.promisedBy) {
		return fmt.Sprintf(", past the promised delivery time (%s)", whenEn(*a.promisedBy, a.now, loc))
	}
	return fmt.Sprintf(", expected %s", dayEn(*a.promisedBy, a.now, loc))
}

// daysApart is the number of calendar days (in loc) from now's day to t's.
func daysApart(t, now time.Time, loc *time.Location) int {
	tl, nl := t.In(loc), now.In(loc)
	td := time.Date(tl.Year(), tl.Month(), tl.Day(), 0, 0, 0, 0, time.UTC)
	nd := time.Date(nl.Year(), nl.Month(), nl.Day(), 0, 0, 0, 0, time.UTC)
	return int(td.Sub(nd).Hours() / 24)
}

func dayZh(t, now time.Time, loc *time.Location) string {
	switch daysApart(t, now, loc) {
	case 0:
		return "今天"
	case 1:
		return "明天"
	case 2:
		return "后天"
	case -1:
		return "昨天"
	}
	tl := t.In(loc)
	return fmt.Sprintf("%d月%d日", tl.Month(), tl.Day())
}

func dayEn(t, now time.Time, loc *time.Location) string {
	switch daysApart(t, now, loc) {
	case 0:
		return "today"
	case 1:
		return "tomorrow"
	case -1:
		return "yesterday"
	}
	return t.In(loc).Format("Jan 2")
}

// whenZh is "12:40" today, else "昨天 12:40" or "12月5日 12:40".
func whenZh(t, now time.Time, loc *time.Location) string {
	hm := t.In(loc).Format("15:04")
	if daysApart(t, now, loc) == 0 {
		return hm
	}
	return dayZh(t, now, loc) + " " + hm
}

func whenEn(t, now time.Time, loc *time.Location) string {
	hm := t.In(loc).Format("15:04")
	if daysApart(t, now, loc) == 0 {
		return hm
	}
	return dayEn(t, now, loc) + " " + hm
}

// durZh is a waiting time as people say it: 25 分钟, 3 小时 5 分钟, 2 天.
func durZh(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "不到 1 分钟"
	case d < time.Hour:
		return fmt.Sprintf("%d 分钟", int(d.Minutes()))
	case d < 48*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%d 小时", h)
		}
		return fmt.Sprintf("%d 小时 %d 分钟", h, m)
	}
	return fmt.Sprintf("%d 天", int(d.Hours()/24))
}

func durEn(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute")
	case d < 48*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return plural(h, "hour")
		}
		return plural(h, "hour") + " " + plural(m, "minute")
	}
	return plural(int(d.Hours()/24), "day")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
