package resolvers

import (
	"slices"
	"testing"
	"time"
)

// The IT view's channel filter keeps the channel's connectors and those
// serving every channel; its range is checked.
func TestTrafficQuery(t *testing.T) {
	r := &Resolver{Sources: []Source{
		{Name: "erp", Type: "standard"},
		{Name: "douyin", Type: "douyin", Channel: "douyin"},
		{Name: "tmall", Type: "tmall", Channel: "tmall"},
		{Name: "mp-pay", Type: "wechatpay", Channel: "miniprogram"},
		{Name: "wms", Type: "qimen"},
	}}
	ptr := func(s string) *string { return &s }
	now := time.Now()
	hourAgo, dayAgo, longAgo := now.Add(-time.Hour), now.Add(-24*time.Hour), now.Add(-100*24*time.Hour)
	tests := []struct {
		name     string
		from, to *time.Time
		channel  *string
		sources  []string // nil: all
		bad      string
	}{
		{"every connector", nil, nil, nil, nil, ""},
		{"douyin's and the shared", nil, nil, ptr("douyin"), []string{"erp", "douyin", "wms"}, ""},
		{"the mini-program's payments", &dayAgo, nil, ptr("miniprogram"), []string{"erp", "mp-pay", "wms"}, ""},
		{"an empty channel is none given", nil, nil, ptr(""), nil, ""},
		{"ends before it starts", &hourAgo, &dayAgo, nil, nil, "to"},
		{"past the hourly rows", &longAgo, nil, nil, nil, "from"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := r.trafficQuery(tc.from, tc.to, tc.channel)
			if tc.bad != "" {
				if field, _, bad := InputError(err); !bad || field != tc.bad {
					t.Fatalf("err %v, want bad input on %s", err, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(q.Sources, tc.sources) || (tc.sources == nil) != (q.Sources == nil) {
				t.Errorf("sources %v, want %v", q.Sources, tc.sources)
			}
			if tc.to == nil && !q.To.IsZero() {
				t.Errorf("a range to the present ends at %v", q.To)
			}
			if tc.from == nil && time.Since(q.From).Round(time.Minute) != time.Hour {
				t.Errorf("default range from %v", q.From)
			}
		})
	}
}
