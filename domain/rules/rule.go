package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/towerhq/tower/domain/order"
)

// Rule is one business rule: a boolean expression over Env and what to do
// when it holds. Rules are data: business people edit them, Compile turns
// them into a Program.
//
// A rule is either immediate or a deadline rule:
//
//   - Immediate (After == 0, DueExpr == ""): when an event whose kind is in
//     On arrives (any kind when On is empty), Expression is evaluated with
//     that event and the twin after it was applied.
//   - Deadline (After > 0 or DueExpr != ""): when an On event arrives, the
//     caller waits until Program.Due (the event's time + After, or the time
//     DueExpr gives), then evaluates Expression on the twin as it is then,
//     with event = nil. An event whose kind is in Until cancels the wait and
//     resolves an alert the rule raised.
type Rule struct {
	// Name is the rule's stable id, lower snake case: "outbound_not_collected".
	Name string `json:"name"`
	// Description says what the rule is for, shown in the editor.
	Description string `json:"description"`
	// Expression is an expr-lang boolean expression over Env.
	Expression string `json:"expression"`
	// On lists the event kinds the rule listens to; empty means every kind.
	On []order.Kind `json:"on,omitempty"`
	// After makes a deadline rule: wait this long after the On event.
	After time.Duration `json:"after,omitempty"`
	// DueExpr makes a deadline rule: wait until the time this expression
	// gives ("order.shipBy"); nil or the zero time means no deadline.
	DueExpr string `json:"dueExpr,omitempty"`
	// Until lists the kinds whose arrival cancels a deadline's wait and
	// resolves its alert.
	Until   []order.Kind `json:"until,omitempty"`
	Actions Actions      `json:"actions"`
	Enabled bool         `json:"enabled"`
	// Version counts the rule's edits; the defaults are version 1.
	Version int `json:"version"`
}

// Actions is what a rule does to an order it matches.
type Actions struct {
	// Tags are added to the order (set semantics).
	Tags []string `json:"tags,omitempty"`
	// Severity is info, warning or critical.
	Severity string `json:"severity"`
	// Queue routes the order to a work queue; "" routes nowhere.
	Queue string `json:"queue,omitempty"`
	// Alert raises an alert of Kind; without it the rule only tags and routes.
	Alert bool `json:"alert,omitempty"`
	// Kind is the alert kind (lower snake case), required with Alert. See
	// AlertKinds for the kinds the defaults use; others are allowed.
	Kind string `json:"kind,omitempty"`
}

// Deadline reports whether r is a deadline rule (After or DueExpr set).
func (r Rule) Deadline() bool { return r.After > 0 || strings.TrimSpace(r.DueExpr) != "" }

// Severities.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Severities lists the valid severities, mildest first.
var Severities = []string{SeverityInfo, SeverityWarning, SeverityCritical}

// Work queues.
const (
	QueueNone              = ""
	QueueCustomerService   = "customer_service"
	QueueRiskReview        = "risk_review"
	QueueWarehouseHold     = "warehouse_hold"
	QueueLogisticsFollowUp = "logistics_follow_up"
)

// Queues lists the valid non-empty queues.
var Queues = []string{QueueCustomerService, QueueRiskReview, QueueWarehouseHold, QueueLogisticsFollowUp}

// Alert kinds used by the default rules. Validate accepts any lower snake
// case kind; these are the known ones.
const (
	AlertLateShip              = "late_ship"
	AlertLateDelivery          = "late_delivery"
	AlertDivergence            = "divergence"
	AlertSuspiciousAddress     = "suspicious_address"
	AlertSuspiciousPhone       = "suspicious_phone"
	AlertIPBurst               = "ip_burst"
	AlertOrderBurst            = "order_burst"
	AlertAmountOutlier         = "amount_outlier"
	AlertDuplicateOrder        = "duplicate_order"
	AlertRefundAfterOutbound   = "refund_after_outbound"
	AlertAddressChangeAfterWMS = "address_change_after_wms"
	AlertNotCollected          = "not_collected"
	AlertNoCourierUpdate       = "no_courier_update"
	AlertDeliveryFailed        = "delivery_failed"
	AlertCancelledAfterPicking = "cancelled_after_picking"
	AlertReturned              = "returned"
	AlertERPWMSDivergence      = "erp_wms_divergence"
)

// AlertKinds lists the known alert kinds.
var AlertKinds = []string{
	AlertLateShip, AlertLateDelivery, AlertDivergence, AlertSuspiciousAddress,
	AlertSuspiciousPhone, AlertIPBurst, AlertOrderBurst, AlertAmountOutlier,
	AlertDuplicateOrder, AlertRefundAfterOutbound, AlertAddressChangeAfterWMS,
	AlertNotCollected, AlertNoCourierUpdate, AlertDeliveryFailed,
	AlertCancelledAfterPicking, AlertReturned, AlertERPWMSDivergence,
}

// Limits Validate applies.
const (
	MaxNameLen        = 64   // bytes
	MaxDescriptionLen = 500  // characters
	MaxExpressionLen  = 4000 // bytes
	MaxTagLen         = 32   // characters
	MaxTags           = 10
	MaxAfter          = 30 * 24 * time.Hour
)

// FieldError names the rule field that is wrong and why. Field is the JSON
// path: "name", "on[2]", "actions.queue".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// ValidationError lists every problem Validate found, in field order.
type ValidationError struct {
	Rule   string        `json:"rule"`
	Fields []*FieldError `json:"fields"`
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("rule")
	if e.Rule != "" {
		fmt.Fprintf(&b, " %q", e.Rule)
	}
	b.WriteString(" is invalid: ")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}

// Unwrap gives the field errors, for errors.As(err, **FieldError).
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Fields))
	for i, f := range e.Fields {
		errs[i] = f
	}
	return errs
}

// Validate checks r's structure: name, description, kinds, deadline fields
// and actions. It does not compile the expressions; Compile does both. The
// error, when not nil, is a *ValidationError listing every problem.
func Validate(r Rule) error {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}

	switch {
	case r.Name == "":
		add("name", "required")
	case len(r.Name) > MaxNameLen:
		add("name", "longer than %d characters", MaxNameLen)
	case !snakeCase(r.Name):
		add("name", "%q is not lower snake case (a-z, 0-9 and single underscores, starting with a letter)", r.Name)
	}
	switch n := utf8.RuneCountInString(r.Description); {
	case strings.TrimSpace(r.Description) == "":
		add("description", "required")
	case n > MaxDescriptionLen:
		add("description", "longer than %d characters", MaxDescriptionLen)
	}
	switch {
	case strings.TrimSpace(r.Expression) == "":
		add("expression", "required")
	case len(r.Expression) > MaxExpressionLen:
		add("expression", "longer than %d bytes", MaxExpressionLen)
	}
	validKinds("on", r.On, add)

	deadline := r.Deadline()
	switch {
	case r.After < 0:
		add("after", "negative")
	case r.After > MaxAfter:
		add("after", "longer than %s", MaxAfter)
	case r.After > 0 && strings.TrimSpace(r.DueExpr) != "":
		add("dueExpr", "set either after or dueExpr, not both (add a grace period in dueExpr: order.shipBy + duration(\"30m\"))")
	}
	if len(r.DueExpr) > MaxExpressionLen {
		add("dueExpr", "longer than %d bytes", MaxExpressionLen)
	}
	if deadline && len(r.On) == 0 {
		add("on", "a deadline rule needs the event kinds that start its wait")
	}
	if len(r.Until) > 0 && !deadline {
		add("until", "only deadline rules (after or dueExpr set) can be cancelled")
	}
	validKinds("until", r.Until, add)
	for i, k := range r.Until {
		if slices.Contains(r.On, k) {
			add(fmt.Sprintf("until[%d]", i), "%q is also in on", k)
		}
	}

	a := r.Actions
	if len(a.Tags) > MaxTags {
		add("actions.tags", "more than %d tags", MaxTags)
	}
	for i, t := range a.Tags {
		field := fmt.Sprintf("actions.tags[%d]", i)
		switch {
		case strings.TrimSpace(t) == "":
			add(field, "empty")
		case t != strings.TrimSpace(t):
			add(field, "%q has leading or trailing space", t)
		case utf8.RuneCountInString(t) > MaxTagLen:
			add(field, "longer than %d characters", MaxTagLen)
		case slices.Index(a.Tags, t) < i:
			add(field, "duplicate tag %q", t)
		}
	}
	if !slices.Contains(Severities, a.Severity) {
		if a.Severity == "" {
			add("actions.severity", "required: one of %s", strings.Join(Severities, ", "))
		} else {
			add("actions.severity", "%q is not one of %s", a.Severity, strings.Join(Severities, ", "))
		}
	}
	if a.Queue != QueueNone && !slices.Contains(Queues, a.Queue) {
		add("actions.queue", "%q is not one of %s (or empty)", a.Queue, strings.Join(Queues, ", "))
	}
	switch {
	case a.Alert && a.Kind == "":
		add("actions.kind", "required when alert is set")
	case a.Kind != "" && (len(a.Kind) > MaxNameLen || !snakeCase(a.Kind)):
		add("actions.kind", "%q is not lower snake case", a.Kind)
	}
	if !a.Alert && len(a.Tags) == 0 && a.Queue == QueueNone {
		add("actions", "the rule does nothing: add a tag, a queue or an alert")
	}
	if r.Version < 0 {
		add("version", "negative")
	}

	if len(errs) == 0 {
		return nil
	}
	return &ValidationError{Rule: r.Name, Fields: errs}
}

func validKinds(field string, ks []order.Kind, add func(field, format string, args ...any)) {
	for i, k := range ks {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case !k.Valid():
			add(f, "unknown event kind %q", k)
		case slices.Index(ks, k) < i:
			add(f, "duplicate kind %q", k)
		}
	}
}

// snakeCase reports whether s is lower snake case: [a-z][a-z0-9]*(_[a-z0-9]+)*.
func snakeCase(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '_' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '_' && s[i-1] != '_':
		default:
			return false
		}
	}
	return true
}
