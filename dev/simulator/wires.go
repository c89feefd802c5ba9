package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/douyin"
	"github.com/towerhq/tower/internal/platforms/kuaidi100"
	"github.com/towerhq/tower/internal/platforms/qimen"
	"github.com/towerhq/tower/internal/platforms/standard"
	"github.com/towerhq/tower/internal/platforms/tmall"
	"github.com/towerhq/tower/internal/platforms/top"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
)

// StandardWire pushes canonical events, signed with Standard Webhooks, to
// POST /webhooks/{Source} (the brand's ERP or mini-program backend).
type StandardWire struct {
	Source string
	Secret string
}

func (w StandardWire) Request(ctx context.Context, base string, e order.Event, _ *Order, now time.Time) (*http.Request, error) {
	body, err := json.Marshal(standardEvent(e))
	if err != nil {
		return nil, err
	}
	id := "sim-" + e.ID
	sig, err := standard.Sign(w.Secret, id, now.Unix(), body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/webhooks/"+w.Source, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(standard.HeaderID, id)
	req.Header.Set(standard.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standard.HeaderSignature, sig)
	return req, nil
}

// standardEvent is the canonical JSON of the api contract.
func standardEvent(e order.Event) map[string]any {
	return map[string]any{
		"id": e.ID, "type": e.Kind, "occurredAt": e.OccurredAt.Format(time.RFC3339Nano), "system": e.System,
		"order": map[string]any{"channel": e.Order.Channel, "orderNo": e.Order.OrderNo}, "data": e.Data,
	}
}

// routeError is returned when a plan event has no route.
func routeError(e order.Event) error {
	return fmt.Errorf("%w: %s from %s on %s", ErrNoRoute, e.Kind, e.System, e.Order.Channel)
}

// DouyinWire pushes Douyin Shop messages, signed as the platform signs.
type DouyinWire struct{ Source, AppKey, AppSecret string }

func (w DouyinWire) Request(ctx context.Context, base string, e order.Event, _ *Order, now time.Time) (*http.Request, error) {
	msg, err := douyin.MessageFrom(e)
	if err != nil {
		return nil, err
	}
	body, h, err := douyin.NewRequest(w.AppKey, w.AppSecret, msg)
	if err != nil {
		return nil, err
	}
	return post(ctx, base+"/webhooks/"+w.Source, body, h)
}

// TmallWire relays TMC messages over HTTP, TOP-signed.
type TmallWire struct{ Source, AppKey, AppSecret string }

func (w TmallWire) Request(ctx context.Context, base string, e order.Event, _ *Order, now time.Time) (*http.Request, error) {
	msg, err := tmall.MessageFrom(e)
	if err != nil {
		return nil, err
	}
	body, q, err := tmall.NewRequest(w.AppKey, w.AppSecret, top.MethodMD5, now, msg)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return post(ctx, base+"/webhooks/"+w.Source+"?"+q.Encode(), body, h)
}

// WechatPayWire sends WeChat Pay v3 payment notifications for the
// mini-program's orders (payments only; its other events come from the
// mini-program backend).
type WechatPayWire struct {
	Source string
	MchID  string
	Signer wechatpay.Signer
}

func (w WechatPayWire) Request(ctx context.Context, base string, e order.Event, _ *Order, now time.Time) (*http.Request, error) {
	var res any
	switch e.Kind {
	case order.KindPaid:
		var total int64
		if e.Data.Amount != nil {
			total = int64(*e.Data.Amount)
		}
		res = wechatpay.Transaction{
			MchID: w.MchID, OutTradeNo: e.Order.OrderNo, TransactionID: "42" + e.Order.OrderNo, TradeType: "JSAPI",
			TradeState: "SUCCESS", SuccessTime: e.OccurredAt.Format(time.RFC3339),
			Amount: wechatpay.TransactionAmount{Total: total, PayerTotal: total, Currency: "CNY"},
		}
	default:
		return nil, routeError(e)
	}
	body, h, err := wechatpay.NewNotification(w.Signer, wechatpay.Notification{ID: "EV-" + e.ID, Resource: res, Timestamp: now.Unix()})
	if err != nil {
		return nil, err
	}
	return post(ctx, base+"/webhooks/"+w.Source, body, h)
}

func post(ctx context.Context, url string, body []byte, h http.Header) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return req, nil
}

// QimenWire sends the WMS's Qimen reports: process reports for received,
// picked and packed, a delivery-order confirmation for outbound.
type QimenWire struct{ Source, AppKey, AppSecret, CustomerID string }

var qimenProcess = map[order.Kind]string{
	order.KindWMSReceived: "ACCEPT", order.KindWMSPicked: "PICK", order.KindWMSPacked: "PACKAGE",
}

func (w QimenWire) Request(ctx context.Context, base string, e order.Event, o *Order, now time.Time) (*http.Request, error) {
	var (
		method string
		body   any
	)
	at := qimen.FormatTime(e.OccurredAt)
	if st, ok := qimenProcess[e.Kind]; ok {
		method = "taobao.qimen.orderprocess.report"
		body = qimen.ProcessReportRequest{
			Order:   qimen.ProcessOrder{OrderCode: e.Order.OrderNo, OrderType: "JYCK", WarehouseCode: o.Warehouse},
			Process: qimen.Process{ProcessStatus: st, OperateTime: at, OperatorCode: "op-1"},
		}
	} else if e.Kind == order.KindWMSOutbound {
		method = "taobao.qimen.deliveryorder.confirm"
		body = qimen.ConfirmRequest{ConfirmOrder: qimen.ConfirmOrder{
			DeliveryOrder: qimen.DeliveryOrder{
				DeliveryOrderCode: e.Order.OrderNo, WarehouseCode: o.Warehouse, OrderType: "JYCK", Status: "DELIVERED",
				OutBizCode: "OB-" + e.Order.OrderNo, ConfirmType: "0", OrderConfirmTime: at,
			},
			Packages: []qimen.Package{{LogisticsCode: o.Courier, ExpressCode: o.TrackingNo}},
		}}
	} else {
		return nil, routeError(e)
	}
	raw, err := qimen.EncodeBody(body, qimen.FormatXML)
	if err != nil {
		return nil, err
	}
	q := qimen.SignedQuery(qimen.Params{Method: method, AppKey: w.AppKey, CustomerID: w.CustomerID, Format: qimen.FormatXML, Timestamp: now}, raw, w.AppSecret)
	h := http.Header{}
	h.Set("Content-Type", "text/xml; charset=utf-8")
	return post(ctx, base+"/webhooks/"+w.Source+"?"+q.Encode(), raw, h)
}

// Kuaidi100Wire sends courier subscription pushes: the parcel's state and
// its track so far.
type Kuaidi100Wire struct{ Source, Salt string }

var kuaidiState = map[order.Kind]string{
	order.KindCollected: "1", order.KindInTransit: "0", order.KindOutForDelivery: "5",
	order.KindDelivered: "3", order.KindDeliveryFailed: "2", order.KindReturned: "6",
}

var kuaidiContext = map[order.Kind]string{
	order.KindCollected: "快递员已揽收", order.KindInTransit: "快件已到达转运中心", order.KindOutForDelivery: "快递员正在派件",
	order.KindDelivered: "已签收", order.KindDeliveryFailed: "派送失败：收件人电话无人接听", order.KindReturned: "快件已退回",
}

func (w Kuaidi100Wire) Request(ctx context.Context, base string, e order.Event, o *Order, now time.Time) (*http.Request, error) {
	state, ok := kuaidiState[e.Kind]
	if !ok {
		return nil, routeError(e)
	}
	// The track so far, newest first, as Kuaidi100 resends it each time.
	var track []kuaidi100.Track
	for i := len(o.Events) - 1; i >= 0; i-- {
		ev := o.Events[i]
		if ev.System != order.SystemCourier || ev.OccurredAt.After(e.OccurredAt) {
			continue
		}
		t := kuaidi100.FormatTime(ev.OccurredAt)
		track = append(track, kuaidi100.Track{Time: t, FTime: t, Context: kuaidiContext[ev.Kind]})
	}
	status := "polling"
	if e.Kind == order.KindDelivered {
		status = "shutdown"
	}
	ischeck := "0"
	if e.Kind == order.KindDelivered {
		ischeck = "1"
	}
	param := kuaidi100.EncodeParam(kuaidi100.Push{Status: status, Message: "", LastResult: &kuaidi100.LastResult{
		Message: "ok", State: state, Status: "200", IsCheck: ischeck, Com: CourierCode(o.Courier), Nu: o.TrackingNo, Data: track,
	}})
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return post(ctx, base+"/webhooks/"+w.Source, kuaidi100.FormBody(param, w.Salt), h)
}
