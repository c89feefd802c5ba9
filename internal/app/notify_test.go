package app

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/notifications/wecom"
	"github.com/towerhq/tower/internal/pgtest"
)

// An alert reaches a WeCom group robot, in its markdown format, through
// the bus and the notifier.
func TestAlertReachesWeComRobot(t *testing.T) {
	fake := wecom.NewFake("test-key", nil)
	robot := httptest.NewServer(fake)
	defer robot.Close()
	s := startServer(t, func(c *cfgT) {
		c.Notify = config.Notify{
			Channels:    []config.NotifyChannel{{Name: "ops", Type: "wecom", WebhookURL: robot.URL + "/cgi-bin/webhook/send?key=test-key"}},
			Routes:      []config.NotifyRoute{{Channel: "ops", MinSeverity: "warning"}},
			GroupWindow: 200 * time.Millisecond,
		}
		c.PublicURL = "https://tower.example"
	})
	no := uniq("NT")
	s.send(t, "n-"+no, ev("n-"+no, "order.paid", "tmall", no, time.Now(), map[string]any{
		"receiver": map[string]any{"name": "李四", "phone": "13900001111", "province": "广东省", "city": "广州市", "address": "地铁站附近"},
	}))
	pgtest.WaitFor(t, 20*time.Second, func() bool {
		for _, m := range fake.Messages() {
			if strings.Contains(m.Content, no) {
				return true
			}
		}
		return false
	})
	for _, m := range fake.Messages() {
		if strings.Contains(m.Content, no) {
			if m.MsgType != "markdown" || !strings.Contains(m.Content, "https://tower.example/orders/tmall/"+no) {
				t.Errorf("message %+v", m)
			}
		}
	}
}

// A robot added through GraphQL takes effect without a restart, and the
// API never shows its key.
func TestRobotConfiguredThroughGraphQL(t *testing.T) {
	fake := wecom.NewFake("api-key", nil)
	robot := httptest.NewServer(fake)
	defer robot.Close()
	s := startServer(t, func(c *cfgT) { c.Notify.GroupWindow = 200 * time.Millisecond })
	name := uniq("robot")
	if _, errs := s.gql(t, `mutation($n:String!, $u:String!){ saveNotificationChannel(input:{name:$n, type:"wecom", webhookUrl:$u}){ name } }`,
		map[string]any{"n": name, "u": robot.URL + "/cgi-bin/webhook/send?key=api-key"}); len(errs) > 0 {
		t.Fatal(errs)
	}
	if _, errs := s.gql(t, `mutation($n:String!){ addNotificationRoute(input:{channel:$n, minSeverity:"warning", kinds:["suspicious_address"]}){ id } }`,
		map[string]any{"n": name}); len(errs) > 0 {
		t.Fatal(errs)
	}
	data, errs := s.gql(t, `{ notificationChannels { name webhookUrl origin } }`, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, c := range data["notificationChannels"].([]any) {
		if u := c.(map[string]any)["webhookUrl"].(string); strings.Contains(u, "api-key") {
			t.Fatalf("key shown: %s", u)
		}
	}
	no := uniq("NG")
	s.send(t, "g-"+no, ev("g-"+no, "order.paid", "douyin", no, time.Now(), map[string]any{
		"receiver": map[string]any{"name": "王五", "phone": "13700002222", "province": "上海市", "city": "上海市", "address": "学校对面"},
	}))
	pgtest.WaitFor(t, 20*time.Second, func() bool {
		for _, m := range fake.Messages() {
			if strings.Contains(m.Content, no) {
				return true
			}
		}
		return false
	})
	if _, errs := s.gql(t, `mutation($n:String!){ deleteNotificationChannel(name:$n) }`, map[string]any{"n": name}); len(errs) > 0 {
		t.Fatal(errs)
	}
}
