// Package notify describes where alert notifications go: the group robots
// (channels) and the routes that pick which alerts each one gets. The
// configuration file and the API both configure them (internal/config and
// internal/storage), and the notifier reads both, so the types live here,
// with no I/O.
package notify

// Channel is one group robot. Its webhook URL holds the robot's key or
// token, a secret: in a configuration file give it through WebhookURLEnv
// (and the DingTalk secret through SecretEnv), read when the file loads.
type Channel struct {
	Name          string   `yaml:"name"`
	Type          string   `yaml:"type"` // wecom | dingtalk
	WebhookURL    string   `yaml:"webhook_url"`
	WebhookURLEnv string   `yaml:"webhook_url_env"`
	Secret        string   `yaml:"secret"` // DingTalk signing secret (SEC...)
	SecretEnv     string   `yaml:"secret_env"`
	Mentions      []string `yaml:"mentions"` // user ids (WeCom) / user ids (DingTalk)
	MentionMobile []string `yaml:"mention_mobiles"`
}

// Route sends matching alerts to a channel. Empty Kinds or Scopes match
// any; MinSeverity empty is the notifier's default.
type Route struct {
	Channel     string   `yaml:"channel"`
	MinSeverity string   `yaml:"min_severity"`
	Kinds       []string `yaml:"kinds"`
	Scopes      []string `yaml:"scopes"`
}
