package wechatpaytest_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
	"github.com/towerhq/tower/internal/platforms/wechatpay/wechatpaytest"
)

// The fake's dev key pair signs what a wechatpay source with the pair's
// public key verifies.
func TestFakeWithDevKeys(t *testing.T) {
	const apiv3 = "0123456789abcdef0123456789abcdef"
	s := wechatpay.Settings{MchID: "1900000001", APIv3Key: apiv3,
		PlatformPublicKeyFile: filepath.Join(t.TempDir(), "dev", "pub.pem"), PlatformPublicKeyID: "PUB_KEY_ID_01"}
	spec := platforms.Spec{Name: "mp-pay", Settings: s}
	if key, err := wechatpaytest.Fake.DevKey(spec, false); err != nil || key != "" {
		t.Fatalf("DevKey before the pair: %q, %v", key, err)
	}
	if p, err := wechatpaytest.Fake.Pusher(spec, platformtest.Keys{}); p != nil || err != nil {
		t.Fatalf("Pusher without a key: %v, %v", p, err)
	}
	key, err := wechatpaytest.Fake.DevKey(spec, true)
	if err != nil || key == "" {
		t.Fatalf("DevKey: %q, %v", key, err)
	}
	p, err := wechatpaytest.Fake.Pusher(spec, platformtest.Keys{wechatpay.Type: key})
	if err != nil || p == nil {
		t.Fatalf("Pusher: %v, %v", p, err)
	}
	src, err := wechatpay.Platform.NewSource(spec, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	amount := order.Money(12990)
	e := order.Event{ID: "e1", Kind: order.KindPaid, System: order.SystemChannel, OccurredAt: time.Now().Truncate(time.Second),
		Order: order.Key{Channel: order.ChannelMiniProgram, OrderNo: "MP1"}, Data: order.Data{Amount: &amount}}
	req, err := p.Request(t.Context(), "http://tower", e, &platformtest.Shipment{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := platformtest.Deliver(src, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 1 || d.Events[0].Kind != order.KindPaid || d.Events[0].Order.OrderNo != "MP1" {
		t.Errorf("delivered %+v", d.Events)
	}
}
