package robot_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/towerhq/tower/domain/notify"
	"github.com/towerhq/tower/internal/notifications"
	"github.com/towerhq/tower/internal/notifications/robot"
)

func TestValidateNamesTheField(t *testing.T) {
	t.Parallel()
	const secret = "SECnot-a-real-one"
	for name, c := range map[string]struct {
		ch    notify.Channel
		field string
	}{
		"wecom":                  {notify.Channel{Name: "ops", Type: "wecom", WebhookURL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}, ""},
		"dingtalk signed":        {notify.Channel{Name: "ops", Type: "dingtalk", WebhookURL: "https://oapi.dingtalk.com/robot/send?access_token=t", Secret: secret}, ""},
		"no name":                {notify.Channel{Type: "wecom", WebhookURL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}, "name"},
		"wecom without key":      {notify.Channel{Name: "ops", Type: "wecom", WebhookURL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"}, "webhook_url"},
		"dingtalk without token": {notify.Channel{Name: "ops", Type: "dingtalk", WebhookURL: "https://oapi.dingtalk.com/robot/send"}, "webhook_url"},
		"not http":               {notify.Channel{Name: "ops", Type: "wecom", WebhookURL: "ftp://qyapi.weixin.qq.com/?key=k"}, "webhook_url"},
		"secret not SEC":         {notify.Channel{Name: "ops", Type: "dingtalk", WebhookURL: "https://oapi.dingtalk.com/robot/send?access_token=t", Secret: "hunter2"}, "secret"},
		"unknown type":           {notify.Channel{Name: "ops", Type: "slack", WebhookURL: "https://hooks.slack.com/x"}, "type"},
	} {
		err := robot.Validate(c.ch)
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		var ce *notifications.ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%s: %v, want a ConfigError on %s", name, err, c.field)
			continue
		}
		if strings.Contains(ce.Msg, "hunter2") || strings.Contains(ce.Msg, "access_token=t") {
			t.Errorf("%s: a secret in the message: %s", name, ce.Msg)
		}
	}
}
