package standardtest

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/standard"
)

// Fake plays the brand's own systems for the simulator: the ERP (a
// standard source without a channel) and the mini-program backend (channel
// miniprogram), its pushes and its order list.
var Fake = platformtest.DefineFake(platformtest.FakeDef[standard.Settings]{
	Platform: standard.Platform,
	Pusher: func(spec platforms.Spec, s standard.Settings, _ platformtest.Keys) (platformtest.Pusher, error) {
		if len(s.Secrets) == 0 || (spec.Channel != "" && spec.Channel != order.ChannelMiniProgram) {
			return nil, nil
		}
		return Pusher{Source: spec.Name, Secret: s.Secrets[0], Channel: spec.Channel}, nil
	},
	OrderList: func(spec platforms.Spec, s standard.Settings) (platformtest.OrderList, bool) {
		if spec.Channel != order.ChannelMiniProgram || len(s.Secrets) == 0 {
			return platformtest.OrderList{}, false
		}
		return OrderList(s.Secrets[0]), true
	},
})

// Pusher pushes canonical events, signed with Standard Webhooks, to a
// standard source: the brand's ERP (no Channel) or the mini-program
// backend (Channel miniprogram).
type Pusher struct {
	Source, Secret string
	Channel        string
}

// Carries the mini-program's channel events for the backend; the ERP's
// own events for the ERP, which also carries what no other pusher does.
func (p Pusher) Carries() platformtest.Carries {
	if p.Channel == order.ChannelMiniProgram {
		return platformtest.Carries{System: order.SystemChannel, Channel: order.ChannelMiniProgram, Fallback: 1}
	}
	return platformtest.Carries{System: order.SystemERP, Fallback: 2}
}

func (p Pusher) Request(ctx context.Context, base string, e order.Event, _ *platformtest.Shipment, now time.Time) (*http.Request, error) {
	body, err := json.Marshal(event(e))
	if err != nil {
		return nil, err
	}
	id := "sim-" + e.ID
	sig, err := standard.Sign(p.Secret, id, now.Unix(), body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(standard.HeaderID, id)
	h.Set(standard.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(standard.HeaderSignature, sig)
	return platformtest.Post(ctx, base+"/webhooks/"+p.Source, body, h)
}

// event is the canonical JSON of an event, as the api contract has it.
func event(e order.Event) map[string]any {
	return map[string]any{
		"id": e.ID, "type": e.Kind, "occurredAt": e.OccurredAt.Format(time.RFC3339Nano), "system": e.System,
		"order": map[string]any{"channel": e.Order.Channel, "orderNo": e.Order.OrderNo}, "data": e.Data,
	}
}
