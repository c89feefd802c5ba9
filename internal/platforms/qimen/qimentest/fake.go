// Package qimentest fakes a WMS that reports over Qimen, for the
// simulator: process reports and delivery-order confirmations to a qimen
// source.
package qimentest

import (
	"context"
	"net/http"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/qimen"
)

// Fake plays the WMS for the simulator.
var Fake = platformtest.DefineFake(platformtest.FakeDef[qimen.Settings]{
	Platform: qimen.Platform,
	Pusher: func(spec platforms.Spec, s qimen.Settings, _ platformtest.Keys) (platformtest.Pusher, error) {
		return Pusher{Source: spec.Name, AppKey: s.AppKey, AppSecret: s.AppSecret, CustomerID: s.CustomerID}, nil
	},
})

// Pusher sends the WMS's Qimen reports: process reports for received,
// picked and packed, a delivery-order confirmation for outbound.
type Pusher struct{ Source, AppKey, AppSecret, CustomerID string }

// Carries the WMS's events.
func (p Pusher) Carries() platformtest.Carries { return platformtest.Carries{System: order.SystemWMS} }

var processStatus = map[order.Kind]string{
	order.KindWMSReceived: "ACCEPT", order.KindWMSPicked: "PICK", order.KindWMSPacked: "PACKAGE",
}

func (p Pusher) Request(ctx context.Context, base string, e order.Event, sh *platformtest.Shipment, now time.Time) (*http.Request, error) {
	var (
		method string
		body   any
	)
	at := qimen.FormatTime(e.OccurredAt)
	if st, ok := processStatus[e.Kind]; ok {
		method = qimen.MethodPrefix + qimen.MethodOrderProcessReport
		operator := "op-1"
		if e.Data.Packer != "" {
			operator = e.Data.Packer
		}
		body = qimen.ProcessReportRequest{
			Order:   qimen.ProcessOrder{OrderCode: e.Order.OrderNo, OrderType: "JYCK", WarehouseCode: sh.Warehouse},
			Process: qimen.Process{ProcessStatus: st, OperateTime: at, OperatorCode: operator},
		}
	} else if e.Kind == order.KindWMSOutbound {
		method = qimen.MethodPrefix + qimen.MethodDeliveryOrderConfirm
		body = qimen.ConfirmRequest{ConfirmOrder: qimen.ConfirmOrder{
			DeliveryOrder: qimen.DeliveryOrder{
				DeliveryOrderCode: e.Order.OrderNo, WarehouseCode: sh.Warehouse, OrderType: "JYCK", Status: "DELIVERED",
				OutBizCode: "OB-" + e.Order.OrderNo, ConfirmType: "0", OrderConfirmTime: at,
			},
			Packages: []qimen.Package{{LogisticsCode: sh.Courier, ExpressCode: sh.TrackingNo}},
		}}
	} else {
		return nil, platformtest.NotPushed(e)
	}
	raw, err := qimen.EncodeBody(body, qimen.FormatXML)
	if err != nil {
		return nil, err
	}
	q := qimen.SignedQuery(qimen.Params{Method: method, AppKey: p.AppKey, CustomerID: p.CustomerID, Format: qimen.FormatXML, Timestamp: now}, raw, p.AppSecret)
	h := http.Header{}
	h.Set("Content-Type", "text/xml; charset=utf-8")
	return platformtest.Post(ctx, base+"/webhooks/"+p.Source+"?"+q.Encode(), raw, h)
}
