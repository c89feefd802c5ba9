// Package kuaidi100test fakes Kuaidi100 for the simulator: courier
// subscription pushes to a kuaidi100 source.
package kuaidi100test

import (
	"context"
	"net/http"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/kuaidi100"
	"github.com/towerhq/tower/internal/platforms/platformtest"
)

// Fake plays the couriers' tracking pushes for the simulator.
var Fake = platformtest.DefineFake(platformtest.FakeDef[kuaidi100.Settings]{
	Platform: kuaidi100.Platform,
	Pusher: func(spec platforms.Spec, s kuaidi100.Settings, _ platformtest.Keys) (platformtest.Pusher, error) {
		return Pusher{Source: spec.Name, Salt: s.Salt}, nil
	},
})

// Pusher sends courier subscription pushes: the parcel's state and its
// track so far.
type Pusher struct{ Source, Salt string }

// Carries the couriers' events.
func (p Pusher) Carries() platformtest.Carries {
	return platformtest.Carries{System: order.SystemCourier}
}

// Com is the Kuaidi100 carrier code of the couriers the simulator ships
// with.
var Com = map[string]string{"SF": "shunfeng", "YTO": "yuantong", "ZTO": "zhongtong", "JD": "jd"}

var state = map[order.Kind]string{
	order.KindCollected: "1", order.KindInTransit: "0", order.KindOutForDelivery: "5",
	order.KindDelivered: "3", order.KindDeliveryFailed: "2", order.KindReturned: "6",
}

var trackText = map[order.Kind]string{
	order.KindCollected: "快递员已揽收", order.KindInTransit: "快件已到达转运中心", order.KindOutForDelivery: "快递员正在派件",
	order.KindDelivered: "已签收", order.KindDeliveryFailed: "派送失败：收件人电话无人接听", order.KindReturned: "快件已退回",
}

func (p Pusher) Request(ctx context.Context, base string, e order.Event, sh *platformtest.Shipment, _ time.Time) (*http.Request, error) {
	st, ok := state[e.Kind]
	if !ok {
		return nil, platformtest.NotPushed(e)
	}
	// The track so far, newest first, as Kuaidi100 resends it each time.
	var track []kuaidi100.Track
	for i := len(sh.Events) - 1; i >= 0; i-- {
		ev := sh.Events[i]
		if ev.System != order.SystemCourier || ev.OccurredAt.After(e.OccurredAt) {
			continue
		}
		t := kuaidi100.FormatTime(ev.OccurredAt)
		track = append(track, kuaidi100.Track{Time: t, FTime: t, Context: trackText[ev.Kind]})
	}
	status, ischeck := "polling", "0"
	if e.Kind == order.KindDelivered {
		status, ischeck = "shutdown", "1"
	}
	param := kuaidi100.EncodeParam(kuaidi100.Push{Status: status, Message: "", LastResult: &kuaidi100.LastResult{
		Message: "ok", State: st, Status: "200", IsCheck: ischeck, Com: Com[sh.Courier], Nu: sh.TrackingNo, Data: track,
	}})
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return platformtest.Post(ctx, base+"/webhooks/"+p.Source, kuaidi100.FormBody(param, p.Salt), h)
}
