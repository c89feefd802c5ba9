package qimen

import (
	"errors"
	"net/url"
	"testing"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
)

var fuzzMethods = []string{
	"taobao.qimen.deliveryorder.confirm", "deliveryorder.batchconfirm", "orderprocess.report",
	"taobao.qimen.orderprocess.report", "entryorder.confirm",
}

// render writes events back as the message that produces them, for the
// stability check: outbound as a confirmation, the others as a process
// report.
func render(t *testing.T, e order.Event, format string) (string, []byte) {
	if e.Kind == order.KindWMSOutbound {
		return "deliveryorder.confirm", mustBody(t, ConfirmRequest{ConfirmOrder: ConfirmOrder{DeliveryOrder: DeliveryOrder{
			DeliveryOrderCode: e.Order.OrderNo, WarehouseCode: e.Data.Warehouse, Status: "DELIVERED",
			OutBizCode: "x", OrderConfirmTime: FormatTime(e.OccurredAt),
			LogisticsCode: e.Data.Courier, ExpressCode: e.Data.TrackingNo,
		}}}, format)
	}
	status := map[order.Kind]string{order.KindWMSReceived: "ACCEPT", order.KindWMSPicked: "PICK", order.KindWMSPacked: "PACKAGE"}[e.Kind]
	return "orderprocess.report", mustBody(t, ProcessReportRequest{
		Order:   ProcessOrder{OrderCode: e.Order.OrderNo, WarehouseCode: e.Data.Warehouse},
		Process: Process{ProcessStatus: status, OperateTime: FormatTime(e.OccurredAt)},
	}, format)
}

func FuzzParseMessage(f *testing.F) {
	f.Add(uint8(0), false, readTestdata(f, "confirm.xml"))
	f.Add(uint8(1), false, readTestdata(f, "batch.xml"))
	f.Add(uint8(2), false, readTestdata(f, "process.xml"))
	f.Add(uint8(0), true, readTestdata(f, "confirm.json"))
	f.Add(uint8(1), true, []byte(`{"orders":{"order":[{"deliveryOrder":{"deliveryOrderCode":"A","status":"DELIVERED","operateTime":"2026-11-25 10:00:00"},"packages":[{"expressCode":"E1"},{"expressCode":"E2"}]},"x"]}}`))
	f.Add(uint8(2), true, []byte(`{"request":{"order":{"orderCode":1},"process":{"processStatus":"WEIGH","operateTime":null}}}`))
	f.Add(uint8(3), false, []byte(`<request><order><orderCode> 1 </orderCode></order><process><processStatus>ACCEPT</processStatus><operateTime>2026-02-30 25:00:00</operateTime></process></request>`))
	f.Add(uint8(4), false, []byte(`<request/>`))
	s := testSource(f)
	f.Fuzz(func(t *testing.T, m uint8, jsonFormat bool, body []byte) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		format := FormatXML
		if jsonFormat {
			format = FormatJSON
		}
		d, err := s.ParseMessage(method, format, body, recvAt)
		if err != nil {
			if d != nil || !errors.Is(err, platforms.ErrMalformed) {
				t.Fatalf("delivery %v, error %q (want only ErrMalformed)", d, err)
			}
			return
		}
		if d.ID != "" {
			t.Fatalf("Delivery.ID %q", d.ID)
		}
		seen := map[string]bool{}
		for i, e := range d.Events {
			if err := e.ValidateRef(); err != nil {
				t.Fatalf("event %d invalid: %v", i, err)
			}
			if e.Source != "wms" || e.System != order.SystemWMS || e.Order.Channel != "" || e.Order.OrderNo == "" || !e.Kind.Valid() || e.Kind.DefaultSystem() != order.SystemWMS {
				t.Fatalf("event %d: %s", i, mustJSON(e))
			}
			if seen[e.ID] {
				t.Fatalf("event id %q twice", e.ID)
			}
			seen[e.ID] = true
			// What parsed is stable: the event written back as a
			// message parses to the same facts.
			method, b := render(t, e, format)
			again, err := s.ParseMessage(method, format, b, recvAt)
			if err != nil || len(again.Events) != 1 {
				t.Fatalf("re-parse of %s: %v %+v", b, err, again)
			}
			a := again.Events[0]
			a.ID = e.ID
			if !sameEvent(e, a) {
				t.Fatalf("round trip changed the event\nfirst %s\nagain %s", mustJSON(e), mustJSON(a))
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	f.Add(vecQuery().Encode(), readTestdata(f, "confirm.xml"))
	f.Add("sign=x&app_key=23456789&customerId=C1001&sign_method=md5&timestamp=2026-11-24+20:00:00", []byte("<request/>"))
	f.Add("%%", []byte{})
	s := testSource(f)
	f.Fuzz(func(t *testing.T, rawQuery string, body []byte) {
		q, _ := url.ParseQuery(rawQuery)
		err := s.Verify(&platforms.Request{Query: q, Body: body})
		if err != nil {
			if !errors.Is(err, platforms.ErrUnauthorized) {
				t.Fatalf("error %q does not wrap ErrUnauthorized", err)
			}
			return
		}
		// Whatever passes is signed with the secret over this very query.
		if Sign(flatten(q), body, vecSecret) != upper(q.Get("sign")) {
			t.Fatalf("accepted a request not signed with the secret: %q", rawQuery)
		}
	})
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
