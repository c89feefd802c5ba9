package qimen

import (
	"time"

	"github.com/towerhq/tower/internal/platforms"
)

// Settings is a qimen source's own configuration keys: what the WMS calls
// with.
type Settings struct {
	AppKey string `yaml:"app_key"`
	// AppSecret may come from TOWER_SOURCE_<NAME>_APP_SECRET.
	AppSecret  string `yaml:"app_secret"`
	CustomerID string `yaml:"customer_id"`
}

// Platform is Qimen: the WMS's reports (no order list to reconcile with).
var Platform = platforms.Define(platforms.Def[Settings]{
	Type: Type,
	NewSource: func(spec platforms.Spec, s Settings, now func() time.Time) (platforms.Source, error) {
		return New(Config{Name: spec.Name, Channel: spec.Channel, AppKey: s.AppKey, AppSecret: s.AppSecret, CustomerID: s.CustomerID}, now)
	},
})

func (s Settings) WithEnv(env platforms.Env) (platforms.Settings, error) {
	s.AppSecret = env.Override("APP_SECRET", s.AppSecret)
	return s, nil
}

func (s Settings) Check(spec platforms.Spec, _ bool) []platforms.Problem {
	return platforms.Required(spec, Type, "app_key", s.AppKey, "app_secret", s.AppSecret, "customer_id", s.CustomerID)
}

func (s Settings) Redacted() platforms.Settings {
	s.AppSecret = platforms.Redact(s.AppSecret)
	return s
}
