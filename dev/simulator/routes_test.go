package simulator_test

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/towerhq/tower/dev/simulator"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/platforms/douyin"
	"github.com/towerhq/tower/internal/platforms/kuaidi100"
	"github.com/towerhq/tower/internal/platforms/qimen"
	"github.com/towerhq/tower/internal/platforms/standard"
	"github.com/towerhq/tower/internal/platforms/tmall"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
)

// sourceOf names the source the pusher of e sends to (every fake's pusher
// has a Source field).
func sourceOf(r simulator.Routes, e order.Event) string {
	p, ok := r.Route(e)
	if !ok {
		return ""
	}
	return reflect.ValueOf(p).FieldByName("Source").String()
}

func TestRoutesFrom(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "dev", "wechatpay_platform_public.pem")
	cfg := config.Default()
	cfg.Sources = []config.Source{
		{Name: "erp", Type: "standard", Settings: standard.Settings{Secrets: []string{standard.DevSecret}}},
		{Name: "dy", Type: "douyin", Settings: douyin.Settings{AppKey: "k", AppSecret: "s"}},
		{Name: "dy2", Type: "douyin", Settings: douyin.Settings{AppKey: "k2", AppSecret: "s2"}},
		{Name: "tm", Type: "tmall", Settings: tmall.Settings{AppKey: "k", AppSecret: "s"}},
		{Name: "wx", Type: "wechatpay", Settings: wechatpay.Settings{MchID: "m", APIv3Key: "0123456789abcdef0123456789abcdef",
			PlatformPublicKeyFile: pub, PlatformPublicKeyID: "PUB"}},
		{Name: "mp", Type: "standard", Channel: order.ChannelMiniProgram, Settings: standard.Settings{Secrets: []string{standard.DevSecret}}},
		{Name: "wms", Type: "qimen", Settings: qimen.Settings{AppKey: "k", AppSecret: "s", CustomerID: "c"}},
		{Name: "kd", Type: "kuaidi100", Settings: kuaidi100.Settings{Salt: "s"}},
	}
	if keys, err := simulator.DevKeys(cfg, false); err != nil || len(keys) != 0 {
		t.Fatalf("DevKeys before any pair: %v, %v", keys, err)
	}
	keys, err := simulator.DevKeys(cfg, true)
	if err != nil || keys[wechatpay.Type] != filepath.Join(dir, "dev", "wechatpay_platform_private.pem") {
		t.Fatalf("DevKeys = %v, %v", keys, err)
	}
	if again, _ := simulator.DevKeys(cfg, false); again[wechatpay.Type] != keys[wechatpay.Type] {
		t.Errorf("DevKeys without create = %v, want the pair made", again)
	}

	ev := func(sys order.System, ch string, k order.Kind) order.Event {
		return order.Event{System: sys, Kind: k, Order: order.Key{Channel: ch, OrderNo: "1"}}
	}
	paid := ev(order.SystemChannel, order.ChannelMiniProgram, order.KindPaid)
	for _, tc := range []struct {
		name string
		key  string // wechatpay private key file
		cut  func(s []config.Source) []config.Source
		want map[string]order.Event // source name -> an event it carries
	}{
		{name: "every platform", key: keys[wechatpay.Type], want: map[string]order.Event{
			"dy":  ev(order.SystemChannel, order.ChannelDouyin, order.KindCreated),
			"tm":  ev(order.SystemChannel, order.ChannelTmall, order.KindPaid),
			"wx":  paid,
			"mp":  ev(order.SystemChannel, order.ChannelMiniProgram, order.KindCreated),
			"wms": ev(order.SystemWMS, order.ChannelTmall, order.KindWMSOutbound),
			"kd":  ev(order.SystemCourier, order.ChannelDouyin, order.KindDelivered),
			"erp": ev(order.SystemERP, order.ChannelTmall, order.KindCreated),
		}},
		{name: "without the wechatpay key, payments go to the backend", want: map[string]order.Event{"mp": paid}},
		{name: "a platform left out falls back on the ERP",
			cut:  func(s []config.Source) []config.Source { return slices.Delete(s, 6, 7) }, // no qimen
			want: map[string]order.Event{"erp": ev(order.SystemWMS, order.ChannelTmall, order.KindWMSOutbound)}},
		{name: "without the ERP the backend takes its events",
			cut:  func(s []config.Source) []config.Source { return s[1:] },
			want: map[string]order.Event{"mp": ev(order.SystemERP, order.ChannelTmall, order.KindCreated)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.Sources = slices.Clone(cfg.Sources)
			if tc.cut != nil {
				c.Sources = tc.cut(c.Sources)
			}
			r, lists, err := simulator.RoutesFrom(c, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			for name, e := range tc.want {
				if got := sourceOf(r, e); got != name {
					t.Errorf("%s %s on %s goes to %q, want %q", e.System, e.Kind, e.Order.Channel, got, name)
				}
			}
			var paths []string
			for _, l := range lists {
				paths = append(paths, l.Path)
			}
			if !slices.Equal(paths, []string{"/douyin", "/tmall", "/miniprogram"}) {
				t.Errorf("order lists at %v", paths)
			}
		})
	}
	if _, _, err := simulator.RoutesFrom(config.Config{Sources: cfg.Sources[1:5]}, ""); err == nil {
		t.Error("no standard source, no error")
	}
}
