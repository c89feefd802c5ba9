package douyintest

import (
	"context"
	"net/http"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/douyin"
	"github.com/towerhq/tower/internal/platforms/platformtest"
)

// Fake plays Douyin Shop for the simulator: a douyin source's pushes and
// its order list.
var Fake = platformtest.DefineFake(platformtest.FakeDef[douyin.Settings]{
	Platform: douyin.Platform,
	Pusher: func(spec platforms.Spec, s douyin.Settings, _ platformtest.Keys) (platformtest.Pusher, error) {
		return Pusher{Source: spec.Name, AppKey: s.AppKey, AppSecret: s.AppSecret}, nil
	},
	OrderList: func(_ platforms.Spec, s douyin.Settings) (platformtest.OrderList, bool) {
		return OrderList(s.AppKey, s.AppSecret), true
	},
})

// Pusher pushes Douyin Shop messages to a douyin source, signed as the
// platform signs.
type Pusher struct{ Source, AppKey, AppSecret string }

// Carries the douyin channel's events.
func (p Pusher) Carries() platformtest.Carries {
	return platformtest.Carries{System: order.SystemChannel, Channel: order.ChannelDouyin}
}

func (p Pusher) Request(ctx context.Context, base string, e order.Event, _ *platformtest.Shipment, _ time.Time) (*http.Request, error) {
	msg, err := douyin.MessageFrom(e)
	if err != nil {
		return nil, err
	}
	body, h, err := douyin.NewRequest(p.AppKey, p.AppSecret, msg)
	if err != nil {
		return nil, err
	}
	return platformtest.Post(ctx, base+"/webhooks/"+p.Source, body, h)
}
