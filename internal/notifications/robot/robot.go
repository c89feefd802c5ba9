// Package robot builds the robot a channel's configuration describes
// (notify.Channel, from the configuration file or the API), after the
// checks its client makes. The notifier builds dispatchers with it; the API
// refuses with it what the notifier could not use, before storing it.
package robot

import (
	"fmt"

	"github.com/towerhq/tower/domain/notify"
	"github.com/towerhq/tower/internal/notifications"
	"github.com/towerhq/tower/internal/notifications/dingtalk"
	"github.com/towerhq/tower/internal/notifications/wecom"
)

// New returns the channel's robot, or a *notifications.ConfigError naming
// the field its client refuses.
func New(c notify.Channel) (notifications.Channel, error) {
	switch c.Type {
	case wecom.Kind:
		wc := wecom.Config{Name: c.Name, WebhookURL: c.WebhookURL, Mentions: c.Mentions, MentionMobiles: c.MentionMobile}
		if err := wc.Validate(); err != nil {
			return nil, err
		}
		return wecom.New(wc), nil
	case dingtalk.Kind:
		dc := dingtalk.Config{Name: c.Name, WebhookURL: c.WebhookURL, Secret: c.Secret, AtUserIDs: c.Mentions, AtMobiles: c.MentionMobile}
		if err := dc.Validate(); err != nil {
			return nil, err
		}
		return dingtalk.New(dc), nil
	}
	return nil, &notifications.ConfigError{Field: "type",
		Msg: fmt.Sprintf("channel %s: unknown type %q (wecom, dingtalk)", c.Name, c.Type)}
}

// Validate is New without the robot.
func Validate(c notify.Channel) error {
	_, err := New(c)
	return err
}
