package simulator

import (
	"github.com/towerhq/tower/internal/platforms/douyin/douyintest"
	"github.com/towerhq/tower/internal/platforms/kuaidi100/kuaidi100test"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/qimen/qimentest"
	"github.com/towerhq/tower/internal/platforms/standard/standardtest"
	"github.com/towerhq/tower/internal/platforms/tmall/tmalltest"
	"github.com/towerhq/tower/internal/platforms/wechatpay/wechatpaytest"
)

// fakes are the platforms the simulator plays, one line each. This is the
// second list a platform joins (the first is internal/platforms/registry,
// which the configuration and the server import): the fakes are test code,
// kept off the registry so that only the simulator links them. Without a
// line here a platform's events would go to a standard source;
// TestEveryPlatformHasAFake keeps the lists together.
var fakes = []platformtest.Fake{
	standardtest.Fake,
	douyintest.Fake,
	tmalltest.Fake,
	wechatpaytest.Fake,
	qimentest.Fake,
	kuaidi100test.Fake,
}

func fakeOf(typ string) (platformtest.Fake, bool) {
	for _, f := range fakes {
		if f.Type() == typ {
			return f, true
		}
	}
	return platformtest.Fake{}, false
}
