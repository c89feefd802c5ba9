package kuaidi100

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// Push is the param JSON of a push, for the simulator and tests; Parse
// reads the same names.
type Push struct {
	// Status is polling, shutdown (finished), abort (given up) or
	// updateall (full resend).
	Status     string      `json:"status"`
	BillStatus string      `json:"billstatus"`
	Message    string      `json:"message"`
	ComNew     string      `json:"comNew,omitempty"`
	LastResult *LastResult `json:"lastResult,omitempty"`
}

// LastResult is the parcel's current state and track.
type LastResult struct {
	Message string `json:"message"`
	State   string `json:"state"`
	Status  string `json:"status"`
	IsCheck string `json:"ischeck"`
	Com     string `json:"com"`
	Nu      string `json:"nu"`
	// Data is the track, newest first.
	Data []Track `json:"data"`
}

// Track is one step of a parcel's track.
type Track struct {
	Time       string `json:"time"`
	FTime      string `json:"ftime"`
	Context    string `json:"context"`
	Status     string `json:"status,omitempty"`
	AreaCode   string `json:"areaCode,omitempty"`
	AreaName   string `json:"areaName,omitempty"`
	StatusCode string `json:"statusCode,omitempty"`
}

// EncodeParam marshals p as the param JSON string.
func EncodeParam(p Push) string {
	b, _ := json.Marshal(p) // plain strings: cannot fail
	return string(b)
}

// FormatTime writes t as a track time, "yyyy-MM-dd HH:mm:ss" in GMT+8.
func FormatTime(t time.Time) string { return t.In(cst).Format(TimeLayout) }

// mainKinds maps lastResult.state main states to kinds.
var mainKinds = map[string]order.Kind{
	"1":  order.KindCollected,      // 揽收
	"0":  order.KindInTransit,      // 在途
	"7":  order.KindInTransit,      // 转投 forwarded
	"8":  order.KindInTransit,      // 清关 customs
	"5":  order.KindOutForDelivery, // 派件
	"3":  order.KindDelivered,      // 签收
	"2":  order.KindDeliveryFailed, // 疑难
	"14": order.KindDeliveryFailed, // 拒签 refused
	"4":  order.KindReturned,       // 退签
	"6":  order.KindReturned,       // 退回
}

// MainState returns the main state of a lastResult.state, reading the
// resultv2 sub-states by their prefix: 101–103 → 1, 1001–1003 → 0,
// 201–299 → 2, 301–304 → 3, 401 → 4, 501 (投柜/驿站, locker or pickup
// station) → 5. ok is false for a state it does not know. [U] The
// sub-state list comes from a single source; unknown ones are flagged.
func MainState(state string) (main string, ok bool) {
	if _, ok := mainKinds[state]; ok {
		return state, true
	}
	n, err := strconv.Atoi(state)
	if err != nil || strconv.Itoa(n) != state {
		return "", false
	}
	switch {
	case n >= 101 && n <= 103:
		return "1", true
	case n >= 1001 && n <= 1003:
		return "0", true
	case n >= 201 && n <= 299:
		return "2", true
	case n >= 301 && n <= 304:
		return "3", true
	case n == 401:
		return "4", true
	case n == 501:
		return "5", true
	}
	return "", false
}

// KindOf returns the event kind of a lastResult.state (main or sub-state).
func KindOf(state string) (order.Kind, bool) {
	main, ok := MainState(state)
	if !ok {
		return "", false
	}
	return mainKinds[main], true
}

// Parse turns a verified push into at most one canonical courier event;
// see ParseParam.
func (s *Source) Parse(r *platforms.Request) (*platforms.Delivery, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: no request", platforms.ErrMalformed)
	}
	param, _, err := form(r.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", platforms.ErrMalformed, err)
	}
	return s.ParseParam([]byte(param), r.ReceivedAt)
}

// ParseParam reads the param JSON of a push. lastResult.state maps to:
//
//	1 (and 101–103)             courier.collected
//	0, 7, 8 (and 1001–1003)     courier.in_transit
//	5 (and 501)                 courier.out_for_delivery
//	3 (and 301–304)             courier.delivered
//	2, 14 (and 2xx)             courier.failed
//	4, 6 (and 401)              courier.returned
//
// The event (System courier) names no order: Data.TrackingNo is
// lastResult.nu, Data.Courier lastResult.com as sent (comNew if com is
// empty), OccurredAt data[0].time (the newest step, GMT+8; receivedAt
// when the track is empty), Data.Reason data[0].context for failed and
// returned. Its ID is nu|data[0].time|state, Kuaidi100's repeat key.
//
// An unknown state, a missing nu or a bad time is flagged (ItemID nu). A
// push with status abort (tracking given up), or shutdown with an empty
// track, is also flagged, as information, and its state still mapped.
// Delivery.ID is empty: repeats are recognised by event id. Only a param
// that is not a JSON object is an error, wrapping platforms.ErrMalformed.
func (s *Source) ParseParam(param []byte, receivedAt time.Time) (*platforms.Delivery, error) {
	trimmed := bytes.TrimSpace(param)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: param: want a JSON object", platforms.ErrMalformed)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, fmt.Errorf("%w: param: invalid JSON at byte %d: %s", platforms.ErrMalformed, se.Offset, se)
		}
		return nil, fmt.Errorf("%w: param: want a JSON object", platforms.ErrMalformed)
	}
	d := &platforms.Delivery{}
	var p wirePush
	if err := json.Unmarshal(trimmed, &p); err != nil {
		d.Flagged = []platforms.Flag{{ItemID: bestEffortNu(raw), Reason: fieldErr(err)}}
		return d, nil
	}
	e, flags := s.event(&p, receivedAt)
	if e != nil {
		d.Events = []order.Event{*e}
	}
	d.Flagged = flags
	return d, nil
}

type wireTrack struct {
	Time    wire.Text `json:"time"`
	FTime   wire.Text `json:"ftime"`
	Context wire.Text `json:"context"`
}

type wirePush struct {
	Status     wire.Text `json:"status"`
	Message    wire.Text `json:"message"`
	ComNew     wire.Text `json:"comNew"`
	LastResult *struct {
		State wire.Text   `json:"state"`
		Com   wire.Text   `json:"com"`
		Nu    wire.Text   `json:"nu"`
		Data  []wireTrack `json:"data"`
	} `json:"lastResult"`
}

func fieldErr(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
		return fmt.Sprintf("%s: wrong type (%s)", te.Field, te.Value)
	}
	return "a field has the wrong type"
}

// bestEffortNu reads lastResult.nu of a push that did not decode, to name
// the flag.
func bestEffortNu(raw map[string]json.RawMessage) string {
	var lr map[string]json.RawMessage
	if json.Unmarshal(raw["lastResult"], &lr) != nil {
		return ""
	}
	var nu wire.Text
	if nu.UnmarshalJSON(lr["nu"]) != nil {
		return ""
	}
	return nu.String()
}

func (s *Source) event(p *wirePush, receivedAt time.Time) (*order.Event, []platforms.Flag) {
	var flags []platforms.Flag
	nu := ""
	if p.LastResult != nil {
		nu = p.LastResult.Nu.String()
	}
	status := strings.ToLower(p.Status.String())
	if status == "abort" || status == "shutdown" && (p.LastResult == nil || len(p.LastResult.Data) == 0) {
		reason := "status " + strconv.Quote(status) + ": tracking ended"
		if m := p.Message.String(); m != "" {
			reason += " (" + wire.Truncate(m, 200) + ")"
		}
		flags = append(flags, platforms.Flag{ItemID: nu, Reason: reason})
	}
	if p.LastResult == nil {
		if len(flags) == 0 {
			flags = append(flags, platforms.Flag{Reason: "no lastResult"})
		}
		return nil, flags
	}
	lr := p.LastResult
	state := lr.State.String()
	if state == "" && len(flags) > 0 {
		return nil, flags // abort or shutdown saying nothing of the parcel
	}
	flag := func(reason string) (*order.Event, []platforms.Flag) {
		return nil, append(flags, platforms.Flag{ItemID: nu, Reason: reason})
	}
	kind, ok := KindOf(state)
	if !ok {
		return flag(fmt.Sprintf("state %s not mapped", strconv.Quote(wire.Truncate(state, 16))))
	}
	if nu == "" {
		return flag("lastResult.nu: missing")
	}
	var newest wireTrack
	if len(lr.Data) > 0 {
		newest = lr.Data[0]
	}
	tstr := first(newest.Time.String(), newest.FTime.String())
	at := receivedAt
	if tstr != "" {
		t, err := time.ParseInLocation(TimeLayout, tstr, cst)
		if err != nil {
			return flag(fmt.Sprintf("data[0].time %s: want yyyy-MM-dd HH:mm:ss", strconv.Quote(wire.Truncate(tstr, 40))))
		}
		at = t
	} else if at.IsZero() {
		return flag("data[0].time: missing, and no receive time")
	}
	e := &order.Event{
		ID:     nu + "|" + tstr + "|" + state,
		Source: s.name, Kind: kind, System: order.SystemCourier, OccurredAt: at,
		Data: order.Data{TrackingNo: nu, Courier: first(lr.Com.String(), p.ComNew.String())},
	}
	if kind == order.KindDeliveryFailed || kind == order.KindReturned {
		e.Data.Reason = newest.Context.String()
	}
	if err := e.ValidateRef(); err != nil {
		return flag(err.Error())
	}
	return e, flags
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
