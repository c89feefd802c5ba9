package qimen

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
)

// recvAt is a receive time distinct from every message time.
var recvAt = time.Date(2026, 11, 24, 12, 30, 0, 0, time.UTC)

func cstTime(s string) time.Time {
	t, err := time.ParseInLocation(TimestampLayout, s, cst)
	if err != nil {
		panic(err)
	}
	return t
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func mustBody(t testing.TB, v any, format string) []byte {
	t.Helper()
	b, err := EncodeBody(v, format)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameEvent(a, b order.Event) bool {
	return a.ID == b.ID && a.Source == b.Source && a.Kind == b.Kind && a.System == b.System &&
		a.OccurredAt.Equal(b.OccurredAt) && a.Order == b.Order && string(mustJSON(a.Data)) == string(mustJSON(b.Data))
}

func parse(t *testing.T, s *Source, method, format string, body []byte) *platforms.Delivery {
	t.Helper()
	d, err := s.ParseMessage(method, format, body, recvAt)
	if err != nil {
		t.Fatalf("ParseMessage: %v", err)
	}
	if d.ID != "" {
		t.Errorf("Delivery.ID = %q, want empty", d.ID)
	}
	for i := range d.Events {
		if err := d.Events[i].ValidateRef(); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	return d
}

func TestParseReferenceConfirm(t *testing.T) {
	s := testSource(t)
	r := requestWith(vecQuery(), readTestdata(t, "confirm.xml"))
	r.ReceivedAt = recvAt
	if err := s.Verify(r); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	d, err := s.Parse(r)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := order.Event{
		ID: "confirm:OB1", Source: "wms", Kind: order.KindWMSOutbound, System: order.SystemWMS,
		OccurredAt: cstTime("2026-11-24 19:58:00"),
		Order:      order.Key{OrderNo: "DO1001"},
		Data:       order.Data{Warehouse: "HZ-01", Courier: "SF", TrackingNo: "SF1234567890"},
	}
	if len(d.Events) != 1 || !sameEvent(d.Events[0], want) || len(d.Flagged) != 0 || d.ID != "" {
		t.Fatalf("got %s flagged %v\nwant %s", mustJSON(d.Events), d.Flagged, mustJSON(want))
	}
	if !d.Events[0].OccurredAt.Equal(time.Date(2026, 11, 24, 11, 58, 0, 0, time.UTC)) {
		t.Errorf("OccurredAt %v not read as GMT+8", d.Events[0].OccurredAt)
	}
	if d.Events[0].RefKind() != "order_no" {
		t.Errorf("RefKind %q", d.Events[0].RefKind())
	}
}

func TestParseChannelOverride(t *testing.T) {
	cfg := testConfig()
	cfg.Channel = "tmall"
	s := mustNew(t, cfg, clockAt(vecTime))
	d := parse(t, s, "taobao.qimen.deliveryorder.confirm", "xml", readTestdata(t, "confirm.xml"))
	if len(d.Events) != 1 || d.Events[0].Order != (order.Key{Channel: "tmall", OrderNo: "DO1001"}) || !d.Events[0].Resolved() {
		t.Fatalf("%s", mustJSON(d.Events))
	}
}

func TestParseProcessXML(t *testing.T) {
	d := parse(t, testSource(t), "taobao.qimen.orderprocess.report", "", readTestdata(t, "process.xml"))
	want := order.Event{
		ID: "process:6921000000001:PICK:2026-11-24 21:15:30", Source: "wms", Kind: order.KindWMSPicked, System: order.SystemWMS,
		OccurredAt: cstTime("2026-11-24 21:15:30"), Order: order.Key{OrderNo: "6921000000001"},
		Data: order.Data{Warehouse: "HZ-01"},
	}
	if len(d.Events) != 1 || !sameEvent(d.Events[0], want) || len(d.Flagged) != 0 {
		t.Fatalf("got %s %v", mustJSON(d.Events), d.Flagged)
	}
}

// The mapping table: every processStatus of the reference.
// A packing report names its packer (operatorCode), in both formats; the
// operator of another step is no packer.
func TestProcessPacker(t *testing.T) {
	s := testSource(t)
	for _, format := range []string{FormatXML, FormatJSON} {
		for st, want := range map[string]string{"PACKAGE": "P007", "WEIGH": "P007", "PICK": "", "ACCEPT": ""} {
			body := mustBody(t, ProcessReportRequest{
				Order:   ProcessOrder{OrderCode: "6921000000001", WarehouseCode: "HZ-01"},
				Process: Process{ProcessStatus: st, OperatorCode: "P007", OperateTime: "2026-11-24 21:00:00"},
			}, format)
			d := parse(t, s, "orderprocess.report", format, body)
			if len(d.Events) != 1 || d.Events[0].Data.Packer != want || d.Events[0].Data.Warehouse != "HZ-01" {
				t.Errorf("%s %s: %s, want packer %q", format, st, mustJSON(d.Events), want)
			}
		}
	}
}

func TestProcessStatusMapping(t *testing.T) {
	want := map[string]order.Kind{
		"ACCEPT": order.KindWMSReceived, "PICK": order.KindWMSPicked, "PACKAGE": order.KindWMSPacked,
		"WEIGH": order.KindWMSPacked, "DELIVERED": order.KindWMSOutbound,
		"accept": order.KindWMSReceived, " PICK ": order.KindWMSPicked,
	}
	flagged := []string{"NEW", "PRINT", "CHECK", "READY", "EXCEPTION", "CLOSED", "CANCELED", "REJECT", "REFUSE",
		"CANCELEDFAIL", "SIGN", "TMSCANCELED", "PARTFULFILLED", "FULFILLED", "PARTDELIVERED", "OTHER", "PACKAGED", ""}
	for _, st := range flagged {
		want[st] = ""
	}
	s := testSource(t)
	for st, kind := range want {
		t.Run(st, func(t *testing.T) {
			for _, format := range []string{FormatXML, FormatJSON} {
				body := mustBody(t, ProcessReportRequest{
					Order:   ProcessOrder{OrderCode: "6921000000001", WarehouseCode: "HZ-01"},
					Process: Process{ProcessStatus: st, OperateTime: "2026-11-24 21:00:00"},
				}, format)
				d := parse(t, s, "orderprocess.report", format, body)
				if kind == "" {
					if len(d.Events) != 0 || len(d.Flagged) != 1 {
						t.Fatalf("%s: events %s flagged %v", format, mustJSON(d.Events), d.Flagged)
					}
					f := d.Flagged[0]
					if f.ItemID != "6921000000001" || !strings.Contains(f.Reason, "processStatus") || !strings.Contains(f.Reason, "not mapped") {
						t.Errorf("flag %+v", f)
					}
					return
				}
				if len(d.Events) != 1 || len(d.Flagged) != 0 || d.Events[0].Kind != kind {
					t.Fatalf("%s: events %s flagged %v, want %s", format, mustJSON(d.Events), d.Flagged, kind)
				}
				if wantID := "process:6921000000001:" + strings.ToUpper(strings.TrimSpace(st)) + ":2026-11-24 21:00:00"; d.Events[0].ID != wantID {
					t.Errorf("ID %q, want %q", d.Events[0].ID, wantID)
				}
			}
		})
	}
}

// The mapping table of deliveryorder.confirm: status and confirmType.
func TestConfirmStatusMapping(t *testing.T) {
	pkg := []Package{{LogisticsCode: "SF", ExpressCode: "SF1"}}
	tests := []struct {
		status, confirmType string
		packages            []Package
		outbound            bool
	}{
		{"DELIVERED", "0", pkg, true},
		{"DELIVERED", "", nil, true},
		{"DELIVERED", "1", pkg, true},
		{"delivered", "0", pkg, true},
		{"", "0", pkg, true},
		{"PARTDELIVERED", "0", pkg, true},
		{"PARTDELIVERED", "1", pkg, false},
		{"", "0", nil, false},
		{"", "1", pkg, false},
		{"", "", pkg, false},
		{"NEW", "0", pkg, false},
		{"ACCEPT", "0", pkg, false},
		{"EXCEPTION", "0", pkg, false},
		{"CANCELED", "0", pkg, false},
		{"CLOSED", "0", pkg, false},
		{"REJECT", "", nil, false},
		{"CANCELEDFAIL", "", nil, false},
	}
	s := testSource(t)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%d", tt.status, tt.confirmType, len(tt.packages)), func(t *testing.T) {
			body := mustBody(t, ConfirmRequest{ConfirmOrder: ConfirmOrder{
				DeliveryOrder: DeliveryOrder{DeliveryOrderCode: "DO1", WarehouseCode: "HZ-01", Status: tt.status,
					OutBizCode: "OB-1", ConfirmType: tt.confirmType, OrderConfirmTime: "2026-11-24 19:00:00"},
				Packages: tt.packages,
			}}, FormatXML)
			d := parse(t, s, "deliveryorder.confirm", "xml", body)
			if tt.outbound {
				if len(d.Events) != 1 || d.Events[0].Kind != order.KindWMSOutbound || len(d.Flagged) != 0 {
					t.Fatalf("events %s flagged %v", mustJSON(d.Events), d.Flagged)
				}
				return
			}
			if len(d.Events) != 0 || len(d.Flagged) != 1 || d.Flagged[0].ItemID != "OB-1" || !strings.Contains(d.Flagged[0].Reason, "not mapped") {
				t.Fatalf("events %s flagged %+v", mustJSON(d.Events), d.Flagged)
			}
		})
	}
}

func TestParseBatchXML(t *testing.T) {
	d := parse(t, testSource(t), "taobao.qimen.deliveryorder.batchconfirm", "xml", readTestdata(t, "batch.xml"))
	want := []order.Event{
		{
			ID: "confirm:OB-2001", Source: "wms", Kind: order.KindWMSOutbound, System: order.SystemWMS,
			OccurredAt: cstTime("2026-11-25 10:00:00"), Order: order.Key{OrderNo: "6921000000001"},
			Data: order.Data{Warehouse: "HZ-01", Courier: "YTO", TrackingNo: "YT0000000001"},
		},
		{
			ID: "confirm:6921000000003:DELIVERED:2026-11-25 10:02:00", Source: "wms", Kind: order.KindWMSOutbound, System: order.SystemWMS,
			OccurredAt: cstTime("2026-11-25 10:02:00"), Order: order.Key{OrderNo: "6921000000003"},
			Data: order.Data{Warehouse: "SH-02", Courier: "ZTO", TrackingNo: "ZT0000000003"},
		},
	}
	if len(d.Events) != len(want) {
		t.Fatalf("events %s", mustJSON(d.Events))
	}
	for i := range want {
		if !sameEvent(d.Events[i], want[i]) {
			t.Errorf("event %d\n got %s\nwant %s", i, mustJSON(d.Events[i]), mustJSON(want[i]))
		}
	}
	wantFlags := []platforms.Flag{
		{ItemID: "YT0000000002", Reason: "package 2 of 2 not mapped: the event carries the first package's tracking number"},
		{ItemID: "OB-2002", Reason: `status "EXCEPTION" (confirmType "1") not mapped`},
	}
	if fmt.Sprint(d.Flagged) != fmt.Sprint(wantFlags) {
		t.Errorf("flagged\n got %+v\nwant %+v", d.Flagged, wantFlags)
	}
}

func TestParseJSON(t *testing.T) {
	s := testSource(t)
	d := parse(t, s, "deliveryorder.confirm", "json", readTestdata(t, "confirm.json"))
	want := order.Event{
		ID: "confirm:OB-9", Source: "wms", Kind: order.KindWMSOutbound, System: order.SystemWMS,
		OccurredAt: cstTime("2026-11-24 22:00:00"), Order: order.Key{OrderNo: "6921000000009"},
		Data: order.Data{Warehouse: "HZ-01", Courier: "SF", TrackingNo: "SF0000000009"},
	}
	if len(d.Events) != 1 || !sameEvent(d.Events[0], want) || len(d.Flagged) != 0 {
		t.Fatalf("got %s %v", mustJSON(d.Events), d.Flagged)
	}
	// The same message as produced by EncodeBody: bare object, packages an array.
	body := mustBody(t, ConfirmRequest{ConfirmOrder: ConfirmOrder{
		DeliveryOrder: DeliveryOrder{DeliveryOrderCode: "6921000000009", WarehouseCode: "HZ-01", Status: "DELIVERED",
			OutBizCode: "OB-9", ConfirmType: "0", OrderConfirmTime: "2026-11-24 22:00:00"},
		Packages: []Package{{LogisticsCode: "SF", ExpressCode: "SF0000000009"}},
	}}, FormatJSON)
	d = parse(t, s, "deliveryorder.confirm", "json", body)
	if len(d.Events) != 1 || !sameEvent(d.Events[0], want) {
		t.Fatalf("bare: got %s %v", mustJSON(d.Events), d.Flagged)
	}
	// packages as a single object.
	d = parse(t, s, "deliveryorder.confirm", "json", []byte(`{"deliveryOrder":{"deliveryOrderCode":"6921000000009","status":"DELIVERED","outBizCode":"OB-9","orderConfirmTime":"2026-11-24 22:00:00","warehouseCode":"HZ-01"},"packages":{"logisticsCode":"SF","expressCode":"SF0000000009"}}`))
	if len(d.Events) != 1 || !sameEvent(d.Events[0], want) {
		t.Fatalf("single package object: got %s %v", mustJSON(d.Events), d.Flagged)
	}
}

func TestParseBatchJSONIsolatesBadItems(t *testing.T) {
	body := []byte(`{"orders":[
		{"deliveryOrder":{"deliveryOrderCode":"A1","status":"DELIVERED","outBizCode":"OB-A","orderConfirmTime":"2026-11-25 10:00:00"}},
		{"deliveryOrder":{"deliveryOrderCode":{"x":1},"status":"DELIVERED","outBizCode":"OB-B"}},
		"not an object",
		{"deliveryOrder":{"deliveryOrderCode":"C1","status":"DELIVERED","outBizCode":"OB-C","orderConfirmTime":"2026/11/25"}},
		{"deliveryOrder":{"status":"DELIVERED","outBizCode":"OB-D"}},
		{"deliveryOrder":{"deliveryOrderCode":"A1","status":"DELIVERED","outBizCode":"OB-A","orderConfirmTime":"2026-11-25 10:00:00"}},
		{"deliveryOrder":{"deliveryOrderCode":"E1","status":"DELIVERED","outBizCode":123456789012345678901234567890}}
	]}`)
	d := parse(t, testSource(t), "deliveryorder.batchconfirm", "json", body)
	if len(d.Events) != 2 || d.Events[0].ID != "confirm:OB-A" || d.Events[1].ID != "confirm:123456789012345678901234567890" {
		t.Fatalf("events %s", mustJSON(d.Events))
	}
	if !d.Events[1].OccurredAt.Equal(recvAt) {
		t.Errorf("fallback time %v, want ReceivedAt", d.Events[1].OccurredAt)
	}
	wantFlags := []struct{ id, reason string }{
		{"OB-B", "orders[1]: deliveryOrder.deliveryOrderCode: wrong type"},
		{"", "orders[2]: want an object"},
		{"OB-C", `orderConfirmTime "2026/11/25": want yyyy-MM-dd HH:mm:ss`},
		{"OB-D", "deliveryOrderCode: missing"},
		{"confirm:OB-A", "event id repeats"},
	}
	if len(d.Flagged) != len(wantFlags) {
		t.Fatalf("flagged %+v", d.Flagged)
	}
	for i, w := range wantFlags {
		if f := d.Flagged[i]; f.ItemID != w.id || !strings.Contains(f.Reason, w.reason) {
			t.Errorf("flag %d = %+v, want %q %q", i, f, w.id, w.reason)
		}
	}
}

func TestParseTimesAndIDs(t *testing.T) {
	s := testSource(t)
	confirm := func(do DeliveryOrder) []byte {
		return mustBody(t, ConfirmRequest{ConfirmOrder: ConfirmOrder{DeliveryOrder: do}}, FormatXML)
	}
	tests := []struct {
		name   string
		body   []byte
		id     string
		at     time.Time
		recvAt time.Time
		flag   string
	}{
		{name: "orderConfirmTime wins", body: confirm(DeliveryOrder{DeliveryOrderCode: "D", Status: "DELIVERED", OutBizCode: "O", OrderConfirmTime: "2026-11-24 10:00:00", OperateTime: "2026-11-24 11:00:00"}),
			id: "confirm:O", at: cstTime("2026-11-24 10:00:00"), recvAt: recvAt},
		{name: "operateTime fallback", body: confirm(DeliveryOrder{DeliveryOrderCode: "D", Status: "DELIVERED", OperateTime: "2026-11-24 11:00:00"}),
			id: "confirm:D:DELIVERED:2026-11-24 11:00:00", at: cstTime("2026-11-24 11:00:00"), recvAt: recvAt},
		{name: "receive time fallback", body: confirm(DeliveryOrder{DeliveryOrderCode: "D", Status: "DELIVERED"}),
			id: "confirm:D:DELIVERED:", at: recvAt, recvAt: recvAt},
		{name: "no time at all", body: confirm(DeliveryOrder{DeliveryOrderCode: "D", Status: "DELIVERED", OutBizCode: "O"}),
			flag: "operateTime: missing, and no receive time"},
		{name: "bad time", body: confirm(DeliveryOrder{DeliveryOrderCode: "D", Status: "DELIVERED", OutBizCode: "O", OrderConfirmTime: "2026-11-24T10:00:00+08:00"}),
			flag: "want yyyy-MM-dd HH:mm:ss", recvAt: recvAt},
		{name: "id too long", body: confirm(DeliveryOrder{DeliveryOrderCode: "D", Status: "DELIVERED", OutBizCode: strings.Repeat("o", 130)}),
			flag: "id: longer than 128", recvAt: recvAt},
		{name: "order number too long", body: confirm(DeliveryOrder{DeliveryOrderCode: strings.Repeat("9", 65), Status: "DELIVERED", OutBizCode: "O"}),
			flag: "order.orderNo: longer than 64", recvAt: recvAt},
		{name: "delivery order tracking without packages", body: confirm(DeliveryOrder{DeliveryOrderCode: "D", Status: "DELIVERED", OutBizCode: "O", LogisticsCode: "JD", ExpressCode: "JD1"}),
			id: "confirm:O", at: recvAt, recvAt: recvAt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := s.ParseMessage("deliveryorder.confirm", "xml", tt.body, tt.recvAt)
			if err != nil {
				t.Fatal(err)
			}
			if tt.flag != "" {
				if len(d.Events) != 0 || len(d.Flagged) != 1 || !strings.Contains(d.Flagged[0].Reason, tt.flag) {
					t.Fatalf("events %s flagged %+v, want flag %q", mustJSON(d.Events), d.Flagged, tt.flag)
				}
				return
			}
			if len(d.Events) != 1 || d.Events[0].ID != tt.id || !d.Events[0].OccurredAt.Equal(tt.at) {
				t.Fatalf("events %s flagged %+v", mustJSON(d.Events), d.Flagged)
			}
		})
	}
	d, _ := s.ParseMessage("deliveryorder.confirm", "xml", confirm(DeliveryOrder{DeliveryOrderCode: "D", Status: "DELIVERED", OutBizCode: "O", LogisticsCode: "JD", ExpressCode: "JD1"}), recvAt)
	if got := d.Events[0].Data; got.Courier != "JD" || got.TrackingNo != "JD1" {
		t.Errorf("delivery order tracking: %+v", got)
	}
}

func TestParseMalformed(t *testing.T) {
	confirmXML := readTestdata(t, "confirm.xml")
	tests := []struct {
		name, method, format string
		body                 string
		wantMsg              string
	}{
		{name: "unknown method", method: "taobao.qimen.entryorder.confirm", format: "xml", body: string(confirmXML), wantMsg: `method "taobao.qimen.entryorder.confirm" not understood`},
		{name: "other prefix", method: "qimen.deliveryorder.confirm", format: "xml", body: string(confirmXML), wantMsg: "not understood"},
		{name: "no method", method: "", format: "xml", body: string(confirmXML), wantMsg: "no method"},
		{name: "unknown format", method: "deliveryorder.confirm", format: "yaml", body: string(confirmXML), wantMsg: "want xml or json"},
		{name: "not XML", method: "deliveryorder.confirm", format: "xml", body: "hello", wantMsg: "want XML"},
		{name: "empty", method: "deliveryorder.confirm", format: "xml", body: "", wantMsg: "want XML"},
		{name: "broken XML", method: "deliveryorder.confirm", format: "xml", body: "<request><deliveryOrder></request>", wantMsg: "invalid XML at line 1"},
		{name: "wrong root", method: "deliveryorder.confirm", format: "xml", body: "<response><deliveryOrder/></response>", wantMsg: "root <request>"},
		{name: "GBK declared", method: "deliveryorder.confirm", format: "xml", body: `<?xml version="1.0" encoding="GBK"?><request><deliveryOrder/></request>`, wantMsg: "UTF-8"},
		{name: "no deliveryOrder", method: "deliveryorder.confirm", format: "xml", body: "<request><packages/></request>", wantMsg: "no deliveryOrder"},
		{name: "batch without orders", method: "deliveryorder.batchconfirm", format: "xml", body: string(confirmXML), wantMsg: "no orders"},
		{name: "process without process", method: "orderprocess.report", format: "xml", body: "<request><order><orderCode>1</orderCode></order></request>", wantMsg: "want order and process"},
		{name: "JSON body with format xml", method: "deliveryorder.confirm", format: "xml", body: `{"deliveryOrder":{}}`, wantMsg: "want XML"},
		{name: "XML body with format json", method: "deliveryorder.confirm", format: "json", body: string(confirmXML), wantMsg: "JSON object"},
		{name: "JSON array", method: "deliveryorder.confirm", format: "json", body: `[{}]`, wantMsg: "JSON object"},
		{name: "JSON broken", method: "deliveryorder.confirm", format: "json", body: `{"deliveryOrder":`, wantMsg: "JSON"},
		{name: "JSON deliveryOrder not object", method: "deliveryorder.confirm", format: "json", body: `{"deliveryOrder":"DO1"}`, wantMsg: "no deliveryOrder"},
		{name: "JSON batch orders empty", method: "deliveryorder.batchconfirm", format: "json", body: `{"orders":[]}`, wantMsg: "non-empty array"},
		{name: "JSON batch orders string", method: "deliveryorder.batchconfirm", format: "json", body: `{"orders":"x"}`, wantMsg: "non-empty array"},
		{name: "JSON process without order", method: "orderprocess.report", format: "json", body: `{"process":{"processStatus":"PICK"}}`, wantMsg: "want order and process"},
	}
	s := testSource(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := s.ParseMessage(tt.method, tt.format, []byte(tt.body), recvAt)
			if err == nil {
				t.Fatalf("ParseMessage succeeded: %+v", d)
			}
			if !errors.Is(err, platforms.ErrMalformed) {
				t.Errorf("error %q does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
	if _, err := s.Parse(nil); !errors.Is(err, platforms.ErrMalformed) {
		t.Errorf("Parse(nil) = %v", err)
	}
}

func TestParseProcessFlags(t *testing.T) {
	s := testSource(t)
	tests := []struct {
		name, format, body, id, reason string
	}{
		{name: "no orderCode", format: "xml", body: `<request><order/><process><processStatus>PICK</processStatus></process></request>`, reason: "orderCode: missing"},
		{name: "bad operateTime", format: "xml", body: `<request><order><orderCode>X1</orderCode></order><process><processStatus>PICK</processStatus><operateTime>yesterday</operateTime></process></request>`, id: "X1", reason: `operateTime "yesterday"`},
		{name: "JSON wrong type", format: "json", body: `{"order":{"orderCode":"X1"},"process":{"processStatus":["PICK"]}}`, id: "X1", reason: "process.processStatus: wrong type (array)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parse(t, s, "orderprocess.report", tt.format, []byte(tt.body))
			if len(d.Events) != 0 || len(d.Flagged) != 1 || d.Flagged[0].ItemID != tt.id || !strings.Contains(d.Flagged[0].Reason, tt.reason) {
				t.Fatalf("events %s flagged %+v", mustJSON(d.Events), d.Flagged)
			}
		})
	}
}
