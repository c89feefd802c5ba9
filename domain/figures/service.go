package figures

import (
	"slices"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/rules"
)

// RepeatWindow: two customer-service lookups of one order this close
// together are the same question asked again.
const RepeatWindow = 24 * time.Hour

// Lookup is one customer-service lookup that found exactly one order.
type Lookup struct {
	Order order.Key
	At    time.Time
}

// RepeatedLookups is the share of orders looked up in [from, to) that were
// looked up again within RepeatWindow of an earlier lookup (the later of
// the two in the window). Pass the lookups from from − RepeatWindow on.
func RepeatedLookups(ls []Lookup, from, to time.Time) Rate {
	by := map[order.Key][]time.Time{}
	for _, l := range ls {
		by[l.Order] = append(by[l.Order], l.At)
	}
	var r Rate
	for _, ts := range by {
		slices.SortFunc(ts, time.Time.Compare)
		inWindow, repeated := false, false
		for i, t := range ts {
			if t.Before(from) || !t.Before(to) {
				continue
			}
			inWindow = true
			if i > 0 && t.Sub(ts[i-1]) <= RepeatWindow {
				repeated = true
			}
		}
		if inWindow {
			r.Den++
			if repeated {
				r.Num++
			}
		}
	}
	return r
}

// DetectionTime is how long an alert's condition was true before Tower
// raised it (never negative).
func DetectionTime(since, raised time.Time) time.Duration { return max(raised.Sub(since), 0) }

// DivergenceKinds are the alert kinds that say systems disagree about an
// order: paid but not in the WMS, ERP and WMS apart, out of the warehouse
// but not collected.
var DivergenceKinds = []string{rules.AlertDivergence, rules.AlertERPWMSDivergence, rules.AlertNotCollected}

// ExceptionTags are the tags that make an order abnormal: those given by
// enabled rules of warning or critical severity. Informational tags
// (remote region, buyer message, recovered event) do not.
//
// An order is abnormal when it has an open alert or an exception tag; the
// abnormal-order ratio is the share of the orders created in a window that
// are abnormal now.
func ExceptionTags(rs []rules.Rule) []string {
	var out []string
	for _, r := range rs {
		if !r.Enabled || r.Actions.Severity == rules.SeverityInfo {
			continue
		}
		for _, t := range r.Actions.Tags {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Abnormal is the definition ExceptionTags documents, for one order.
func Abnormal(openAlert bool, tags, exception []string) bool {
	if openAlert {
		return true
	}
	for _, t := range tags {
		if slices.Contains(exception, t) {
			return true
		}
	}
	return false
}
