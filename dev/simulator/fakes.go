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
// second list a platform joins (the first is internal/platforms/registry):
// the fakes are test code, kept off the registry so that the production
// paths which import it (configuration, server) do not link them; only
// the simulator does. A platform without a line here is still served, its
// events going to a standard source.
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
