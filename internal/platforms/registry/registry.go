// Package registry is the one list of the platforms Tower knows. Adding a
// platform is a new folder under internal/platforms with a Platform made
// by platforms.Define (its configuration section, its push source, its
// order-list client if it has one), and one line in all below.
//
// The platforms' fakes (douyintest, ...) are listed apart, in
// dev/simulator/fakes.go, one more line there for a platform the
// simulator should play: this package is imported by the configuration
// and the server, and keeping the fakes off it keeps them out of every
// production path but the simulator itself (which `tower serve` embeds
// for dev mode).
package registry

import (
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/douyin"
	"github.com/towerhq/tower/internal/platforms/kuaidi100"
	"github.com/towerhq/tower/internal/platforms/qimen"
	"github.com/towerhq/tower/internal/platforms/standard"
	"github.com/towerhq/tower/internal/platforms/tmall"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
)

// all are the platforms, one line each, in the order messages list them.
var all = []platforms.Platform{
	standard.Platform,
	douyin.Platform,
	tmall.Platform,
	wechatpay.Platform,
	qimen.Platform,
	kuaidi100.Platform,
}

// Lookup is the platform of a source type.
func Lookup(typ string) (platforms.Platform, bool) {
	for _, p := range all {
		if p.Type() == typ {
			return p, true
		}
	}
	return platforms.Platform{}, false
}

// Types are the known source types.
func Types() []string {
	out := make([]string, len(all))
	for i, p := range all {
		out[i] = p.Type()
	}
	return out
}

// Pulling are the source types with an order list to reconcile with.
func Pulling() []string {
	var out []string
	for _, p := range all {
		if p.Pulls() {
			out = append(out, p.Type())
		}
	}
	return out
}
