package tmalltest

import (
	"context"
	"net/http"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/tmall"
	"github.com/towerhq/tower/internal/platforms/top"
)

// Fake plays Taobao/Tmall for the simulator: the relay's pushes to a tmall
// source, and the order list.
var Fake = platformtest.DefineFake(platformtest.FakeDef[tmall.Settings]{
	Platform: tmall.Platform,
	Pusher: func(spec platforms.Spec, s tmall.Settings, _ platformtest.Keys) (platformtest.Pusher, error) {
		return Pusher{Source: spec.Name, AppKey: s.AppKey, AppSecret: s.AppSecret}, nil
	},
	OrderList: func(_ platforms.Spec, s tmall.Settings) (platformtest.OrderList, bool) {
		return OrderList(s.AppKey, s.AppSecret), true
	},
})

// Pusher relays TMC messages over HTTP to a tmall source, TOP-signed.
type Pusher struct{ Source, AppKey, AppSecret string }

// Carries the tmall channel's events.
func (p Pusher) Carries() platformtest.Carries {
	return platformtest.Carries{System: order.SystemChannel, Channel: order.ChannelTmall}
}

func (p Pusher) Request(ctx context.Context, base string, e order.Event, _ *platformtest.Shipment, now time.Time) (*http.Request, error) {
	msg, err := tmall.MessageFrom(e)
	if err != nil {
		return nil, err
	}
	body, q, err := tmall.NewRequest(p.AppKey, p.AppSecret, top.MethodMD5, now, msg)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return platformtest.Post(ctx, base+"/webhooks/"+p.Source+"?"+q.Encode(), body, h)
}
