// Package order holds Tower's canonical order-event model: the one shape every
// channel, ERP, WMS and courier message is normalised into. Plain Go, no I/O.
package order

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Known channels. A source may override its type's default channel.
const (
	ChannelTmall       = "tmall"
	ChannelDouyin      = "douyin"
	ChannelMiniProgram = "miniprogram"
)

// System is one of the systems that report on an order.
type System string

const (
	SystemChannel System = "channel"
	SystemERP     System = "erp"
	SystemWMS     System = "wms"
	SystemCourier System = "courier"
)

// Systems lists every system in display order.
var Systems = []System{SystemChannel, SystemERP, SystemWMS, SystemCourier}

// Valid reports whether s is a known system.
func (s System) Valid() bool {
	switch s {
	case SystemChannel, SystemERP, SystemWMS, SystemCourier:
		return true
	}
	return false
}

// Kind is what happened to an order, past tense, dotted.
type Kind string

const (
	KindCreated         Kind = "order.created"
	KindPaid            Kind = "order.paid"
	KindAddressChanged  Kind = "order.address_changed"
	KindCancelled       Kind = "order.cancelled"
	KindRefundRequested Kind = "refund.requested"
	KindRefundCompleted Kind = "refund.completed"
	KindWMSReceived     Kind = "wms.received"
	KindWMSPicked       Kind = "wms.picked"
	KindWMSPacked       Kind = "wms.packed"
	KindWMSOutbound     Kind = "wms.outbound"
	KindCollected       Kind = "courier.collected"
	KindInTransit       Kind = "courier.in_transit"
	KindOutForDelivery  Kind = "courier.out_for_delivery"
	KindDelivered       Kind = "courier.delivered"
	KindDeliveryFailed  Kind = "courier.failed"
	KindReturned        Kind = "courier.returned"
)

// Kinds lists every kind in lifecycle order; the index is the kind's rank,
// used to order events that share a timestamp.
var Kinds = []Kind{
	KindCreated, KindPaid, KindAddressChanged, KindRefundRequested, KindCancelled,
	KindWMSReceived, KindWMSPicked, KindWMSPacked, KindWMSOutbound,
	KindCollected, KindInTransit, KindOutForDelivery, KindDeliveryFailed,
	KindDelivered, KindReturned, KindRefundCompleted,
}

var kindRank = func() map[Kind]int {
	m := make(map[Kind]int, len(Kinds))
	for i, k := range Kinds {
		m[k] = i
	}
	return m
}()

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { _, ok := kindRank[k]; return ok }

// Rank is k's position in the lifecycle, -1 when unknown.
func (k Kind) Rank() int {
	if r, ok := kindRank[k]; ok {
		return r
	}
	return -1
}

// Status is the short status word a system reports, e.g. "outbound" for
// wms.outbound.
func (k Kind) Status() string {
	if i := strings.IndexByte(string(k), '.'); i >= 0 {
		return string(k)[i+1:]
	}
	return string(k)
}

// DefaultSystem is the system that normally reports k.
func (k Kind) DefaultSystem() System {
	switch {
	case strings.HasPrefix(string(k), "wms."):
		return SystemWMS
	case strings.HasPrefix(string(k), "courier."):
		return SystemCourier
	}
	return SystemChannel
}

// Key identifies an order across systems: its channel and the channel's order number.
type Key struct {
	Channel string `json:"channel"`
	OrderNo string `json:"orderNo"`
}

func (k Key) String() string { return k.Channel + "/" + k.OrderNo }

// Validate checks both parts are present and sane.
func (k Key) Validate() error {
	if k.Channel == "" {
		return &FieldError{Field: "order.channel", Reason: "required"}
	}
	if k.OrderNo == "" {
		return &FieldError{Field: "order.orderNo", Reason: "required"}
	}
	if len(k.Channel) > 32 {
		return &FieldError{Field: "order.channel", Reason: "longer than 32 characters"}
	}
	if len(k.OrderNo) > 64 {
		return &FieldError{Field: "order.orderNo", Reason: "longer than 64 characters"}
	}
	return nil
}

// Receiver is the person and address a parcel goes to. Personal data: it
// masks itself in logs.
type Receiver struct {
	Name     string `json:"name,omitempty"`
	Phone    string `json:"phone,omitempty"`
	Province string `json:"province,omitempty"`
	City     string `json:"city,omitempty"`
	District string `json:"district,omitempty"`
	Address  string `json:"address,omitempty"`
}

// LogValue keeps names, phones and street addresses out of logs.
func (r Receiver) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", MaskName(r.Name)),
		slog.String("phone", MaskPhone(r.Phone)),
		slog.String("province", r.Province),
		slog.String("city", r.City),
	)
}

// Masked returns r with personal data masked for roles that need no more.
func (r Receiver) Masked() Receiver {
	return Receiver{
		Name: MaskName(r.Name), Phone: MaskPhone(r.Phone),
		Province: r.Province, City: r.City, District: r.District,
		Address: MaskAddress(r.Address),
	}
}

// Protected reports whether a platform already masked or encrypted s:
// Taobao and Douyin ship numbers and names with '*' in them, Douyin's
// encrypted fields are wrapped in '#' or '$' and Taobao's start with '~'
// (decrypting them is a metered platform call Tower does not make). Such a
// value is shown as it came, never "fixed".
func Protected(s string) bool {
	if strings.ContainsRune(s, '*') || strings.HasPrefix(s, "~") {
		return true
	}
	return len(s) >= 2 && (s[0] == '#' && s[len(s)-1] == '#' || s[0] == '$' && s[len(s)-1] == '$')
}

// MaskName keeps the first character: 张三 -> 张*.
func MaskName(s string) string {
	if Protected(s) {
		return s
	}
	rs := []rune(s)
	if len(rs) == 0 {
		return ""
	}
	return string(rs[0]) + strings.Repeat("*", max(len(rs)-1, 1))
}

// MaskPhone keeps the first 3 and last 4 digits: 138****1234.
func MaskPhone(s string) string {
	if Protected(s) {
		return s
	}
	rs := []rune(s)
	if len(rs) <= 7 {
		return strings.Repeat("*", len(rs))
	}
	return string(rs[:3]) + strings.Repeat("*", len(rs)-7) + string(rs[len(rs)-4:])
}

// MaskAddress hides the street address (street, number, building): the
// province, city and district, kept apart, say where a parcel goes.
func MaskAddress(s string) string {
	if s == "" || Protected(s) {
		return s
	}
	return "****"
}

// MaskIP keeps the network half of an address: 101.1.*.*, 2408:8207:*.
func MaskIP(s string) string {
	if s == "" || Protected(s) {
		return s
	}
	if parts := strings.Split(s, "."); len(parts) == 4 {
		return parts[0] + "." + parts[1] + ".*.*"
	}
	if parts := strings.Split(s, ":"); len(parts) > 2 {
		return parts[0] + ":" + parts[1] + ":*"
	}
	return "****"
}

// MaskID keeps the first character of a platform buyer id.
func MaskID(s string) string {
	if s == "" || Protected(s) {
		return s
	}
	rs := []rune(s)
	return string(rs[0]) + "***"
}

// PhoneTail is the last 4 digits of the receiver's phone, what a buyer
// reads out to customer service. Separators (spaces, '-', parentheses) are
// skipped; "" when the phone does not end in 4 digits, as a phone masked at
// its end does not. Masked in the middle keeps its tail: 138****1234 gives
// 1234.
func (r Receiver) PhoneTail() string {
	var tail [4]byte
	n := 0
	for i := len(r.Phone) - 1; i >= 0 && n < 4; i-- {
		switch c := r.Phone[i]; {
		case c == ' ' || c == '-' || c == '(' || c == ')':
		case c >= '0' && c <= '9':
			n++
			tail[4-n] = c
		default:
			return ""
		}
	}
	if n < 4 {
		return ""
	}
	return string(tail[:])
}

// Item is one order line.
type Item struct {
	SKU   string `json:"sku"`
	Qty   int    `json:"qty"`
	Price Money  `json:"price"`
}

// Data carries the optional facts an event reports. Which fields are set
// depends on the event: a wms.* event may carry only Warehouse.
type Data struct {
	Amount       *Money     `json:"amount,omitempty"`
	Currency     string     `json:"currency,omitempty"`
	BuyerIP      string     `json:"buyerIp,omitempty"`
	BuyerID      string     `json:"buyerId,omitempty"`
	BuyerMessage string     `json:"buyerMessage,omitempty"`
	Shop         string     `json:"shop,omitempty"`
	Receiver     *Receiver  `json:"receiver,omitempty"`
	Items        []Item     `json:"items,omitempty"`
	Warehouse    string     `json:"warehouse,omitempty"`
	Courier      string     `json:"courier,omitempty"`
	TrackingNo   string     `json:"trackingNo,omitempty"`
	ShipBy       *time.Time `json:"shipBy,omitempty"`
	PromisedBy   *time.Time `json:"promisedBy,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	// Station and Packer say where and by whom a wms.packed step was done
	// (a packing table's code, the WMS operator's code), for throughput per
	// station and per packer. They describe the one event, not the order:
	// twins keep them on the timeline only.
	Station string `json:"station,omitempty"`
	Packer  string `json:"packer,omitempty"`
}

// Event is one canonical order event. (Source, ID) is unique: a repeat has
// no second effect.
type Event struct {
	// ID is the event id given by the source, unique per source.
	ID string `json:"id"`
	// Source is the name of the configured ingest source it came through.
	Source     string    `json:"source"`
	Kind       Kind      `json:"type"`
	System     System    `json:"system"`
	OccurredAt time.Time `json:"occurredAt"`
	Order      Key       `json:"order"`
	Data       Data      `json:"data"`
	// Recovered marks events found by reconciliation rather than pushed.
	Recovered bool `json:"recovered,omitempty"`
}

// Validate checks an event is complete enough to apply: it names its order
// fully (channel and order number).
func (e *Event) Validate() error {
	return e.validate(false)
}

// ValidateRef is Validate for platform messages that find their order
// later: a WMS message may carry only the order number (the channel is
// resolved from the orders Tower knows), a courier push only the tracking
// number (matched to the order an earlier event gave it).
func (e *Event) ValidateRef() error {
	return e.validate(true)
}

// Resolved reports whether the event names its order fully.
func (e *Event) Resolved() bool { return e.Order.Channel != "" && e.Order.OrderNo != "" }

// RefKind says how an unresolved event finds its order.
func (e *Event) RefKind() string {
	switch {
	case e.Resolved():
		return ""
	case e.Order.OrderNo != "":
		return "order_no"
	case e.Data.TrackingNo != "":
		return "tracking_no"
	}
	return "none"
}

func (e *Event) validate(allowRef bool) error {
	if e.ID == "" {
		return &FieldError{Field: "id", Reason: "required"}
	}
	if len(e.ID) > 128 {
		return &FieldError{Field: "id", Reason: "longer than 128 characters"}
	}
	if !e.Kind.Valid() {
		return &FieldError{Field: "type", Reason: fmt.Sprintf("unknown event type %q", e.Kind)}
	}
	if !e.System.Valid() {
		return &FieldError{Field: "system", Reason: fmt.Sprintf("unknown system %q", e.System)}
	}
	if e.OccurredAt.IsZero() {
		return &FieldError{Field: "occurredAt", Reason: "required"}
	}
	switch {
	case allowRef && e.Order.Channel == "" && e.Order.OrderNo == "" && e.Data.TrackingNo != "":
	case allowRef && e.Order.Channel == "" && e.Order.OrderNo != "":
		if len(e.Order.OrderNo) > 64 {
			return &FieldError{Field: "order.orderNo", Reason: "longer than 64 characters"}
		}
	default:
		if err := e.Order.Validate(); err != nil {
			return err
		}
	}
	if e.Data.Amount != nil && *e.Data.Amount < 0 {
		return &FieldError{Field: "data.amount", Reason: "negative"}
	}
	for i, it := range e.Data.Items {
		if it.Qty <= 0 {
			return &FieldError{Field: fmt.Sprintf("data.items[%d].qty", i), Reason: "must be positive"}
		}
	}
	return nil
}

// FieldError names the input field that is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// ErrInvalid is matched by every FieldError via errors.Is.
var ErrInvalid = errors.New("invalid order event")

func (e *FieldError) Is(target error) bool { return target == ErrInvalid }
