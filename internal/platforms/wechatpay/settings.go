package wechatpay

import (
	"time"

	"github.com/towerhq/tower/internal/platforms"
)

// Settings is a wechatpay source's own configuration keys.
type Settings struct {
	MchID string `yaml:"mchid"`
	// APIv3Key may come from TOWER_SOURCE_<NAME>_APIV3_KEY.
	APIv3Key              string `yaml:"apiv3_key"`
	PlatformPublicKeyFile string `yaml:"platform_public_key_file"`
	PlatformPublicKeyID   string `yaml:"platform_public_key_id"`
}

// Platform is WeChat Pay v3: payment and refund notifications (no order
// list; the mini-program backend's is reconciled as a standard source).
var Platform = platforms.Define(platforms.Def[Settings]{
	Type:    Type,
	Channel: DefaultChannel,
	NewSource: func(spec platforms.Spec, s Settings, now func() time.Time) (platforms.Source, error) {
		return New(Config{Name: spec.Name, Channel: spec.Channel, MchID: s.MchID, APIv3Key: s.APIv3Key,
			PlatformPublicKeyFile: s.PlatformPublicKeyFile, PlatformPublicKeyID: s.PlatformPublicKeyID}, now)
	},
})

func (s Settings) WithEnv(env platforms.Env) (platforms.Settings, error) {
	s.APIv3Key = env.Override("APIV3_KEY", s.APIv3Key)
	return s, nil
}

func (s Settings) Check(spec platforms.Spec, _ bool) []platforms.Problem {
	return platforms.Required(spec, Type, "mchid", s.MchID, "apiv3_key", s.APIv3Key,
		"platform_public_key_file", s.PlatformPublicKeyFile, "platform_public_key_id", s.PlatformPublicKeyID)
}

func (s Settings) Redacted() platforms.Settings {
	s.APIv3Key = platforms.Redact(s.APIv3Key)
	return s
}
