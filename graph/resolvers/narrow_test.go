package resolvers

import (
	"reflect"
	"testing"

	"github.com/towerhq/tower/domain/access"
)

func TestNarrowScopes(t *testing.T) {
	hz := access.Scopes{Warehouses: []string{"HZ-01"}}
	for _, tc := range []struct {
		name               string
		caller             access.Scopes
		channel, warehouse string
		want               access.Scopes
		ok                 bool
	}{
		{"no ask keeps the caller's", hz, "", "", hz, true},
		{"unlimited caller asks a channel", access.Scopes{}, "douyin", "", access.Scopes{Channels: []string{"douyin"}}, true},
		{"ask inside the caller's warehouse", hz, "tmall", "HZ-01", access.Scopes{Channels: []string{"tmall"}, Warehouses: []string{"HZ-01"}}, true},
		{"ask outside the caller's warehouse", hz, "", "GZ-03", hz, false},
		{"ask outside the caller's channel", access.Scopes{Channels: []string{"tmall", "douyin"}}, "miniprogram", "", access.Scopes{Channels: []string{"tmall", "douyin"}}, false},
		{"one of the caller's channels", access.Scopes{Channels: []string{"tmall", "douyin"}}, "douyin", "", access.Scopes{Channels: []string{"douyin"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := narrowScopes(tc.caller, tc.channel, tc.warehouse)
			if ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
				t.Errorf("narrowScopes(%v, %q, %q) = %v, %v; want %v, %v", tc.caller, tc.channel, tc.warehouse, got, ok, tc.want, tc.ok)
			}
		})
	}
}
