// Package registry is the one list of the platforms Tower knows, which
// the configuration (each source's section), the server (push sources,
// reconciliation clients) and the simulator read.
//
// Adding a platform:
//
//  1. A folder internal/platforms/<type> with the connector (a
//     platforms.Source: Verify, Parse, Respond), its Settings (the yaml
//     keys of its sources[] entry, with WithEnv, Check and Redacted), and
//     `var Platform = platforms.Define(platforms.Def[Settings]{...})`:
//     its type, how to build its push source and, if it has an order list
//     to reconcile with, its pull.Client (tested with pulltest.Run).
//  2. One line in all below.
//  3. For the simulator, <type>/<type>test with a Pusher (and a fake order
//     list if there is one) and `var Fake = platformtest.DefineFake(...)`,
//     and one line in dev/simulator/fakes.go. The fakes are listed apart
//     so that this package, which the configuration and the server
//     import, links no fake: they reach the tower binary only through
//     dev/simulator, which `tower serve` embeds for dev mode. A test there
//     fails while a platform has no fake.
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
