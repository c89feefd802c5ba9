// Package figures defines Tower's fulfilment figures once, in plain Go: what
// each counts, from which facts of an order's twin, at which moment, and how
// the headline numbers (rates, percentiles, backlog, the health index) are
// read back from those counts. No I/O and no clock reads: callers pass the
// present.
//
// The counts are rollups: numbers per minute (and per hour) per scope
// (channel, shop, warehouse, courier), plus gauges of what is open now.
// An order contributes a fixed set of counts, a pure function of its twin
// (Contribute). Rollups kept as the running sum of Delta(before, after) over
// every twin change therefore telescope to the contribution of the final
// twins: the twin converges under duplicated and reordered events, so the
// rollups do, and a replay gives the same numbers.
//
// What a twin alone cannot say is read where it lives, from small indexed
// sets, never from the event table: the abnormal-order ratio (open alerts
// and exception tags), the detection time of alerts (the alerts' own
// condition-since and raised times), and repeated customer-service lookups.
// Their definitions are here too (Abnormal, DetectionTime, RepeatedLookups).
package figures
