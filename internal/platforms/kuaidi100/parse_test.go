package kuaidi100

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
)

func cstTime(s string) time.Time {
	t, err := time.ParseInLocation(TimeLayout, s, cst)
	if err != nil {
		panic(err)
	}
	return t
}

func sameEvent(a, b order.Event) bool {
	return a.ID == b.ID && a.Source == b.Source && a.Kind == b.Kind && a.System == b.System &&
		a.OccurredAt.Equal(b.OccurredAt) && a.Order == b.Order && string(mustJSON(a.Data)) == string(mustJSON(b.Data))
}

func parseParam(t *testing.T, s *Source, param []byte) *platforms.Delivery {
	t.Helper()
	d, err := s.ParseParam(param, recvAt)
	if err != nil {
		t.Fatalf("ParseParam: %v", err)
	}
	if d.ID != "" {
		t.Errorf("Delivery.ID %q", d.ID)
	}
	for i := range d.Events {
		if err := d.Events[i].ValidateRef(); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	return d
}

func TestParseReferenceVector(t *testing.T) {
	s := testSource(t)
	r := NewRequest(string(readTestdata(t, "param.json")), vecSalt, recvAt)
	if err := s.Verify(r); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	d, err := s.Parse(r)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := order.Event{
		ID: "SF1234567890|2026-11-26 09:12:00|5", Source: "kd100", Kind: order.KindOutForDelivery, System: order.SystemCourier,
		OccurredAt: cstTime("2026-11-26 09:12:00"),
		Data:       order.Data{TrackingNo: "SF1234567890", Courier: "shunfeng"},
	}
	if len(d.Events) != 1 || !sameEvent(d.Events[0], want) || len(d.Flagged) != 0 || d.ID != "" {
		t.Fatalf("got %s %v\nwant %s", mustJSON(d.Events), d.Flagged, mustJSON(want))
	}
	if e := d.Events[0]; e.Order != (order.Key{}) || e.RefKind() != "tracking_no" {
		t.Errorf("order %+v refKind %q", e.Order, e.RefKind())
	}
	if !d.Events[0].OccurredAt.Equal(time.Date(2026, 11, 26, 1, 12, 0, 0, time.UTC)) {
		t.Errorf("OccurredAt %v not read as GMT+8", d.Events[0].OccurredAt)
	}
}

func TestParseSignedWithSubState(t *testing.T) {
	d := parseParam(t, testSource(t), readTestdata(t, "signed.json"))
	want := order.Event{
		ID: "YT0000000001|2026-11-27 14:03:11|301", Source: "kd100", Kind: order.KindDelivered, System: order.SystemCourier,
		OccurredAt: cstTime("2026-11-27 14:03:11"),
		Data:       order.Data{TrackingNo: "YT0000000001", Courier: "yuantong"},
	}
	// shutdown with a track is the normal last push: no flag.
	if len(d.Events) != 1 || !sameEvent(d.Events[0], want) || len(d.Flagged) != 0 {
		t.Fatalf("got %s %v", mustJSON(d.Events), d.Flagged)
	}
}

func push(state string, data ...Track) []byte {
	return []byte(EncodeParam(Push{Status: "polling", LastResult: &LastResult{State: state, Com: "zhongtong", Nu: "ZT1", Data: data}}))
}

// The mapping table: main states and resultv2 sub-states.
func TestStateMapping(t *testing.T) {
	want := map[string]order.Kind{
		"1": order.KindCollected, "101": order.KindCollected, "102": order.KindCollected, "103": order.KindCollected,
		"0": order.KindInTransit, "7": order.KindInTransit, "8": order.KindInTransit,
		"1001": order.KindInTransit, "1002": order.KindInTransit, "1003": order.KindInTransit,
		"5": order.KindOutForDelivery, "501": order.KindOutForDelivery,
		"3": order.KindDelivered, "301": order.KindDelivered, "302": order.KindDelivered, "303": order.KindDelivered, "304": order.KindDelivered,
		"2": order.KindDeliveryFailed, "14": order.KindDeliveryFailed, "201": order.KindDeliveryFailed, "203": order.KindDeliveryFailed, "210": order.KindDeliveryFailed,
		"4": order.KindReturned, "6": order.KindReturned, "401": order.KindReturned,
	}
	for _, st := range []string{"9", "10", "13", "15", "104", "305", "402", "502", "1004", "200", "-1", "05", "+5", "5.0", "abc", ""} {
		want[st] = ""
	}
	s := testSource(t)
	track := Track{Time: "2026-11-26 09:12:00", FTime: "2026-11-26 09:12:00", Context: "拒收，退回"}
	for st, kind := range want {
		t.Run(st, func(t *testing.T) {
			d := parseParam(t, s, push(st, track))
			if kind == "" {
				if len(d.Events) != 0 || len(d.Flagged) != 1 || d.Flagged[0].ItemID != "ZT1" || !strings.Contains(d.Flagged[0].Reason, "not mapped") {
					t.Fatalf("events %s flagged %+v", mustJSON(d.Events), d.Flagged)
				}
				return
			}
			if len(d.Events) != 1 || len(d.Flagged) != 0 || d.Events[0].Kind != kind {
				t.Fatalf("events %s flagged %+v, want %s", mustJSON(d.Events), d.Flagged, kind)
			}
			e := d.Events[0]
			if e.ID != "ZT1|2026-11-26 09:12:00|"+st {
				t.Errorf("ID %q", e.ID)
			}
			wantReason := ""
			if kind == order.KindDeliveryFailed || kind == order.KindReturned {
				wantReason = "拒收，退回"
			}
			if e.Data.Reason != wantReason {
				t.Errorf("Reason %q, want %q", e.Data.Reason, wantReason)
			}
		})
	}
}

func TestStateAsNumber(t *testing.T) {
	d := parseParam(t, testSource(t), []byte(`{"status":"polling","lastResult":{"state":3,"com":"jd","nu":"JD0001","data":[{"time":"2026-11-26 09:12:00","context":"签收"}]}}`))
	if len(d.Events) != 1 || d.Events[0].Kind != order.KindDelivered || d.Events[0].ID != "JD0001|2026-11-26 09:12:00|3" {
		t.Fatalf("%s %v", mustJSON(d.Events), d.Flagged)
	}
}

func TestParseFlags(t *testing.T) {
	track := Track{Time: "2026-11-26 09:12:00", Context: "x"}
	tests := []struct {
		name     string
		param    string
		recvAt   time.Time
		events   int
		flagID   string
		reason   string // substring of the single flag; "" means no flag
		occurred time.Time
	}{
		{name: "abort with state: flag and event", param: EncodeParam(Push{Status: "abort", Message: "3天查询无记录", LastResult: &LastResult{State: "0", Nu: "ZT1", Com: "zhongtong", Data: []Track{track}}}),
			recvAt: recvAt, events: 1, flagID: "ZT1", reason: `status "abort": tracking ended (3天查询无记录)`, occurred: cstTime("2026-11-26 09:12:00")},
		{name: "abort without lastResult", param: `{"status":"abort","message":"60天无变化"}`, recvAt: recvAt, reason: `status "abort": tracking ended (60天无变化)`},
		{name: "abort without state", param: `{"status":"abort","lastResult":{"nu":"ZT1","data":[]}}`, recvAt: recvAt, flagID: "ZT1", reason: `status "abort"`},
		{name: "shutdown with empty track, state mapped at receive time", param: EncodeParam(Push{Status: "shutdown", LastResult: &LastResult{State: "3", Nu: "ZT1"}}),
			recvAt: recvAt, events: 1, flagID: "ZT1", reason: `status "shutdown"`, occurred: recvAt},
		{name: "polling with empty track", param: EncodeParam(Push{Status: "polling", LastResult: &LastResult{State: "1", Nu: "ZT1"}}), recvAt: recvAt, events: 1, occurred: recvAt},
		{name: "ftime when time is empty", param: EncodeParam(Push{Status: "polling", LastResult: &LastResult{State: "1", Nu: "ZT1", Data: []Track{{FTime: "2026-11-26 08:00:00"}}}}),
			recvAt: recvAt, events: 1, occurred: cstTime("2026-11-26 08:00:00")},
		{name: "no time at all", param: EncodeParam(Push{Status: "polling", LastResult: &LastResult{State: "1", Nu: "ZT1"}}), flagID: "ZT1", reason: "no receive time"},
		{name: "bad time", param: EncodeParam(Push{Status: "polling", LastResult: &LastResult{State: "1", Nu: "ZT1", Data: []Track{{Time: "2026/11/26 09:12"}}}}),
			recvAt: recvAt, flagID: "ZT1", reason: `data[0].time "2026/11/26 09:12"`},
		{name: "no nu", param: EncodeParam(Push{Status: "polling", LastResult: &LastResult{State: "1", Data: []Track{track}}}), recvAt: recvAt, reason: "nu: missing"},
		{name: "no lastResult", param: `{"status":"polling"}`, recvAt: recvAt, reason: "no lastResult"},
		{name: "unknown state", param: EncodeParam(Push{Status: "polling", LastResult: &LastResult{State: "99", Nu: "ZT1", Data: []Track{track}}}), recvAt: recvAt, flagID: "ZT1", reason: `state "99" not mapped`},
		{name: "wrong type", param: `{"status":"polling","lastResult":{"state":{"v":1},"nu":"ZT1"}}`, recvAt: recvAt, flagID: "ZT1", reason: "lastResult.state: wrong type (object)"},
		{name: "data not an array", param: `{"status":"polling","lastResult":{"state":"1","nu":"ZT1","data":"x"}}`, recvAt: recvAt, flagID: "ZT1", reason: "lastResult.data: wrong type"},
		{name: "id too long", param: EncodeParam(Push{Status: "polling", LastResult: &LastResult{State: "1", Nu: strings.Repeat("9", 120), Data: []Track{track}}}), recvAt: recvAt, flagID: strings.Repeat("9", 120), reason: "id: longer than 128"},
		{name: "comNew when com empty", param: EncodeParam(Push{Status: "polling", ComNew: "yunda", LastResult: &LastResult{State: "1", Nu: "ZT1", Data: []Track{track}}}), recvAt: recvAt, events: 1, occurred: cstTime("2026-11-26 09:12:00")},
	}
	s := testSource(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := s.ParseParam([]byte(tt.param), tt.recvAt)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Events) != tt.events {
				t.Fatalf("events %s flagged %+v", mustJSON(d.Events), d.Flagged)
			}
			if tt.events == 1 && !d.Events[0].OccurredAt.Equal(tt.occurred) {
				t.Errorf("OccurredAt %v, want %v", d.Events[0].OccurredAt, tt.occurred)
			}
			if tt.reason == "" {
				if len(d.Flagged) != 0 {
					t.Fatalf("flagged %+v", d.Flagged)
				}
				return
			}
			if len(d.Flagged) != 1 || d.Flagged[0].ItemID != tt.flagID || !strings.Contains(d.Flagged[0].Reason, tt.reason) {
				t.Fatalf("flagged %+v, want %q %q", d.Flagged, tt.flagID, tt.reason)
			}
		})
	}
	d := parseParam(t, s, []byte(EncodeParam(Push{Status: "polling", ComNew: "yunda", LastResult: &LastResult{State: "1", Nu: "ZT1", Data: []Track{track}}})))
	if d.Events[0].Data.Courier != "yunda" {
		t.Errorf("Courier %q", d.Events[0].Data.Courier)
	}
}

func TestParseMalformed(t *testing.T) {
	s := testSource(t)
	for _, param := range []string{"", "  ", "hello", `["x"]`, `"x"`, `{"status":`, `{"a":1}x`, "null"} {
		t.Run(param, func(t *testing.T) {
			d, err := s.ParseParam([]byte(param), recvAt)
			if err == nil || !errors.Is(err, platforms.ErrMalformed) || d != nil {
				t.Fatalf("ParseParam(%q) = %+v, %v", param, d, err)
			}
		})
	}
	for _, body := range []string{"", "param=&sign=x", "sign=x", "%zz"} {
		if _, err := s.Parse(&platforms.Request{Body: []byte(body)}); !errors.Is(err, platforms.ErrMalformed) {
			t.Errorf("Parse(%q) = %v", body, err)
		}
	}
	if _, err := s.Parse(nil); !errors.Is(err, platforms.ErrMalformed) {
		t.Errorf("Parse(nil) = %v", err)
	}
	_, err := s.Parse(NewRequest("not json", vecSalt, recvAt))
	if !errors.Is(err, platforms.ErrMalformed) || !strings.Contains(err.Error(), "JSON object") {
		t.Errorf("Parse(not json) = %v", err)
	}
}
