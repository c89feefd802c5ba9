package kuaidi100

import (
	"time"

	"github.com/towerhq/tower/internal/platforms"
)

// Settings is a kuaidi100 source's own configuration key.
type Settings struct {
	// Salt may come from TOWER_SOURCE_<NAME>_SALT.
	Salt string `yaml:"salt"`
}

// Platform is Kuaidi100: courier tracking pushes (no order list).
var Platform = platforms.Define(platforms.Def[Settings]{
	Type: Type,
	NewSource: func(spec platforms.Spec, s Settings, now func() time.Time) (platforms.Source, error) {
		// Tracking pushes name no channel: the tracking number finds the order.
		return New(Config{Name: spec.Name, Salt: s.Salt}, now)
	},
})

func (s Settings) WithEnv(env platforms.Env) (platforms.Settings, error) {
	s.Salt = env.Override("SALT", s.Salt)
	return s, nil
}

func (s Settings) Check(spec platforms.Spec, _ bool) []platforms.Problem {
	return platforms.Required(spec, Type, "salt", s.Salt)
}

func (s Settings) Redacted() platforms.Settings {
	s.Salt = platforms.Redact(s.Salt)
	return s
}
