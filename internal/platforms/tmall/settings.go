package tmall

import (
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/reconcile/pull"
)

// Settings is a tmall source's own configuration keys: the TOP app the
// relay signs with, which is also the one the order list is pulled as.
type Settings struct {
	AppKey string `yaml:"app_key"`
	// AppSecret may come from TOWER_SOURCE_<NAME>_APP_SECRET.
	AppSecret string `yaml:"app_secret"`
}

// Platform is Taobao/Tmall: TMC messages relayed over HTTP, and
// taobao.trades.sold.increment.get for reconciliation.
var Platform = platforms.Define(platforms.Def[Settings]{
	Type:    Type,
	Channel: order.ChannelTmall,
	NewSource: func(spec platforms.Spec, s Settings, now func() time.Time) (platforms.Source, error) {
		return New(Config{Name: spec.Name, Channel: spec.Channel, AppKey: s.AppKey, AppSecret: s.AppSecret}, now)
	},
	NewClient: func(spec platforms.Spec, s Settings) pull.Client {
		return NewClient(ClientConfig{Options: pull.Options{BaseURL: spec.PullURL}, AppKey: s.AppKey, AppSecret: s.AppSecret})
	},
})

func (s Settings) WithEnv(env platforms.Env) (platforms.Settings, error) {
	s.AppSecret = env.Override("APP_SECRET", s.AppSecret)
	return s, nil
}

func (s Settings) Check(spec platforms.Spec, _ bool) []platforms.Problem {
	return platforms.Required(spec, Type, "app_key", s.AppKey, "app_secret", s.AppSecret)
}

func (s Settings) Redacted() platforms.Settings {
	s.AppSecret = platforms.Redact(s.AppSecret)
	return s
}
