package simulator_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/towerhq/tower/dev/simulator"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/platforms/qimen"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
	"github.com/towerhq/tower/internal/platforms/wechatpay/wechatpaytest"
)

// junk is text PostgreSQL cannot store: a NUL and bytes that are not UTF-8.
const junk = "名\x00字\xff\xfe"

// TestUnstorableTextFromEveryPlatform: each platform type pushes, signed as
// it signs, events whose every text field carries a NUL and bytes that are
// not UTF-8. The platforms, which cannot change what they send, are
// acknowledged, their text stored replaced and the delivery flagged; our
// own standard type is refused with 400 naming the field.
func TestUnstorableTextFromEveryPlatform(t *testing.T) {
	dsn, drop := pgtest.CreateDB(t, "simjunk")
	t.Cleanup(drop)
	n := newSimNode(t, dsn, "http://127.0.0.1:1")
	sc := simulator.Defaults()
	sc.Orders, sc.Seed = 60, 11
	sc.Faults = simulator.Faults{}
	plan := simulator.Generate(sc)

	status := map[string]map[int]int{} // source → status → pushes
	bodies := map[string]string{}
	for _, s := range plan.Sends {
		p, ok := n.routes.Route(s.Event)
		if !ok {
			continue
		}
		e := s.Event
		d := &e.Data
		d.BuyerMessage, d.Shop, d.Reason, d.BuyerID = junk, junk, junk, junk
		if d.Receiver != nil {
			r := *d.Receiver
			r.Name, r.Address, r.City = junk, junk+r.Address, junk
			d.Receiver = &r
		}
		if len(d.Items) > 0 {
			items := append([]order.Item(nil), d.Items...)
			items[0].SKU = junk + items[0].SKU
			d.Items = items
		}
		if d.Warehouse != "" {
			d.Warehouse = junk + d.Warehouse
		}
		if d.Courier != "" {
			d.Courier = junk + d.Courier
		}
		if d.TrackingNo != "" {
			d.TrackingNo = junk + d.TrackingNo
		}
		sh := plan.Orders[s.Order].Shipment()
		sh.Warehouse, sh.Courier, sh.TrackingNo = junk+sh.Warehouse, junk+sh.Courier, junk+sh.TrackingNo
		req, err := p.Request(context.Background(), n.url, e, sh, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		src := strings.TrimPrefix(req.URL.Path, "/webhooks/")
		switch src {
		case "wms":
			req = rawXMLJunk(t, req, "wms-secret")
		case "mp-pay":
			req = junkPayment(t, n.url, p.(wechatpaytest.Pusher), e)
		}
		if status[src] == nil {
			status[src] = map[int]int{}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		status[src][resp.StatusCode]++
		if resp.StatusCode >= 300 {
			bodies[src] = string(b)
		}
	}
	for _, src := range []string{"douyin", "tmall", "mp-pay", "wms", "kd100", "mp", "erp"} {
		st := status[src]
		if len(st) == 0 {
			t.Errorf("%s: nothing pushed", src)
			continue
		}
		if src == "mp" || src == "erp" { // the standard type
			if st[http.StatusBadRequest] == 0 || !strings.Contains(bodies[src], "contains a NUL") {
				t.Errorf("%s (standard): %v, last refusal %s", src, st, bodies[src])
			}
			continue
		}
		if ok := st[http.StatusOK] + st[http.StatusNoContent]; len(st) != 1 || ok == 0 {
			t.Errorf("%s: answered %v (last refusal %s), want every push acknowledged", src, st, bodies[src])
		}
		var stored, flagged int
		if err := n.node.DB.QueryRowContext(t.Context(), `SELECT count(*), count(*) FILTER (WHERE sanitized)
			FROM webhook_deliveries WHERE source = ? AND verified`, src).Scan(&stored, &flagged); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d pushes acknowledged, %d deliveries flagged as altered to be stored", src, stored, flagged)
		if stored == 0 || flagged == 0 {
			t.Errorf("%s: %d deliveries stored, %d flagged", src, stored, flagged)
		}
	}
	// Whatever was stored is text PostgreSQL keeps as it is.
	var texts []string
	if err := n.node.DB.NewRaw(`SELECT data::text FROM order_events`).Scan(t.Context(), &texts); err != nil {
		t.Fatal(err)
	}
	for _, s := range texts {
		if !utf8.ValidString(s) || strings.Contains(s, `\u0000`) {
			t.Fatalf("stored event data %q", s)
		}
	}
}

// rawXMLJunk puts the junk's raw bytes back into a Qimen XML push (the XML
// encoder had replaced them) and signs it again, as a WMS writing bytes
// into its XML by hand would send it.
func rawXMLJunk(t *testing.T, req *http.Request, secret string) *http.Request {
	t.Helper()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	body = bytes.ReplaceAll(body, []byte("名\uFFFD字\uFFFD\uFFFD"), []byte(junk))
	q := req.URL.Query()
	params := map[string]string{}
	for k := range q {
		if k != qimen.ParamSign {
			params[k] = q.Get(k)
		}
	}
	q.Set(qimen.ParamSign, qimen.Sign(params, body, secret))
	out, err := http.NewRequest(http.MethodPost, req.URL.Scheme+"://"+req.URL.Host+req.URL.Path+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out.Header = req.Header.Clone()
	return out
}

// junkPayment is a WeChat Pay notification of e whose every free text
// field of the encrypted resource carries the junk.
func junkPayment(t *testing.T, base string, p wechatpaytest.Pusher, e order.Event) *http.Request {
	t.Helper()
	res := wechatpay.Transaction{
		MchID: p.MchID, OutTradeNo: e.Order.OrderNo, TransactionID: "42" + e.Order.OrderNo, TradeType: "JSAPI",
		TradeState: "SUCCESS", TradeStateDesc: junk, BankType: junk, Attach: junk, SuccessTime: e.OccurredAt.Format(time.RFC3339),
		Payer: &wechatpay.Payer{OpenID: junk}, Amount: wechatpay.TransactionAmount{Total: 100, PayerTotal: 100, Currency: "CNY"},
	}
	body, h, err := wechatpay.NewNotification(p.Signer, wechatpay.Notification{ID: "EV-" + e.ID, Summary: junk, Resource: res, Timestamp: time.Now().Unix()})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/"+p.Source, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	return req
}
