package events_test

import (
	"testing"

	"github.com/towerhq/tower/events"
)

func TestPreview(t *testing.T) {
	order := `{"events": [{"id": "e1", "type": "order.created", "order": {"channel": "tmall", "orderNo": "T1"},
		"data": {"receiver": {"name": "张三", "phone": "13800001234", "city": "杭州", "address": "西湖区文三路 1 号"}, "buyerId": "b-77", "amount": 12.5, "paid": true, "note": null}}]}`
	cases := []struct {
		name    string
		payload string
		limit   int
		mask    bool
		want    string
	}{
		{"compact, personal data masked", order, 1000, true,
			`{"events":[{"id":"e1","type":"order.created","order":{"channel":"tmall","orderNo":"T1"},"data":{"receiver":{"name":"张*","phone":"138****1234","city":"杭州","address":"****"},"buyerId":"***","amount":12.5,"paid":true,"note":null}}]}`},
		{"unmasked for those who may see it", order, 1000, false,
			`{"events":[{"id":"e1","type":"order.created","order":{"channel":"tmall","orderNo":"T1"},"data":{"receiver":{"name":"张三","phone":"13800001234","city":"杭州","address":"西湖区文三路 1 号"},"buyerId":"b-77","amount":12.5,"paid":true,"note":null}}]}`},
		{"cut at the limit", order, 30, true, `{"events":[{"id":"e1","type":"…`},
		{"a payload read only in part previews up to the cut", order[:60], 1000, true, `{"events":[{"id":"e1","type":"order.created","order":{…`},
		{"the shape a handler rejected", `{"events": "not a list"}`, 100, true, `{"events":"not a list"}`},
		{"not an object", `[1, "two", {"phone": "13800001234"}]`, 100, true, `[1,"two",{"phone":"138****1234"}]`},
		{"empty", ``, 100, true, ``},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := events.Preview([]byte(tc.payload), tc.limit, tc.mask); got != tc.want {
				t.Errorf("Preview = %s\nwant      %s", got, tc.want)
			}
		})
	}
}
