package simulator_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/towerhq/tower/dev/simulator"
	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/app"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/platforms/douyin"
	"github.com/towerhq/tower/internal/platforms/douyin/douyintest"
	"github.com/towerhq/tower/internal/platforms/kuaidi100"
	"github.com/towerhq/tower/internal/platforms/kuaidi100/kuaidi100test"
	"github.com/towerhq/tower/internal/platforms/qimen"
	"github.com/towerhq/tower/internal/platforms/qimen/qimentest"
	"github.com/towerhq/tower/internal/platforms/standard"
	"github.com/towerhq/tower/internal/platforms/standard/standardtest"
	"github.com/towerhq/tower/internal/platforms/tmall"
	"github.com/towerhq/tower/internal/platforms/tmall/tmalltest"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
	"github.com/towerhq/tower/internal/platforms/wechatpay/wechatpaytest"
)

// simNode is a node with one source of every platform type, and the
// pushers that sign for them.
type simNode struct {
	node     *app.Node
	url      string
	routes   simulator.Routes
	log      *slog.Logger
	mpSecret string
	// token is an ops API token: the figures are behind @hasRole.
	token string
}

// newSimNode starts it on dsn; pullBase is where its channel sources
// reconcile from; tune, if given, changes the configuration first.
func newSimNode(t *testing.T, dsn, pullBase string, tune ...func(*config.Config)) simNode {
	t.Helper()
	ctx := context.Background()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := wechatpay.MarshalPublicKeyPEM(&key.PublicKey)
	pemFile := filepath.Join(t.TempDir(), "wechatpay_pub.pem")
	if err := os.WriteFile(pemFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	secret := func() string {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		return "whsec_" + base64.StdEncoding.EncodeToString(b)
	}
	mpSecret, erpSecret := secret(), secret()
	const apiv3 = "0123456789abcdef0123456789abcdef"

	cfg := config.Default()
	cfg.HTTPAddr, cfg.DatabaseURL, cfg.NodeName = "127.0.0.1:0", dsn, "sim"
	noDemo := false
	cfg.Auth.DemoAccounts = &noDemo // the test makes its own token
	cfg.Sources = []config.Source{
		{Name: "douyin", Type: "douyin", Settings: douyin.Settings{AppKey: "7000000000000000001", AppSecret: "douyin-secret"},
			PullURL: pullBase + "/douyin", ReconcileEvery: time.Hour, ReconcileGrace: time.Millisecond},
		{Name: "tmall", Type: "tmall", Settings: tmall.Settings{AppKey: "23456789", AppSecret: "tmall-secret"},
			PullURL: pullBase + "/tmall", ReconcileEvery: time.Hour, ReconcileGrace: time.Millisecond},
		{Name: "mp-pay", Type: "wechatpay", Settings: wechatpay.Settings{MchID: "1900000001", APIv3Key: apiv3,
			PlatformPublicKeyFile: pemFile, PlatformPublicKeyID: "PUB_KEY_ID_01"}},
		{Name: "mp", Type: "standard", Channel: "miniprogram", Settings: standard.Settings{Secrets: []string{mpSecret}},
			PullURL: pullBase + "/miniprogram", ReconcileEvery: time.Hour, ReconcileGrace: time.Millisecond},
		{Name: "wms", Type: "qimen", Settings: qimen.Settings{AppKey: "wms-key", AppSecret: "wms-secret", CustomerID: "C1001"}},
		{Name: "kd100", Type: "kuaidi100", Settings: kuaidi100.Settings{Salt: "k100salt"}},
		{Name: "erp", Type: "standard", Settings: standard.Settings{Secrets: []string{erpSecret}}},
	}
	for _, f := range tune {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	node, err := app.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	url, err := node.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Shutdown(context.Background()) })
	token, _, err := node.Auth.CreateToken(ctx, auth.NewToken{Name: "simulator-test", Role: access.Ops}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return simNode{node: node, url: url, log: log, mpSecret: mpSecret, token: token, routes: simulator.Routes{
		douyintest.Pusher{Source: "douyin", AppKey: "7000000000000000001", AppSecret: "douyin-secret"},
		tmalltest.Pusher{Source: "tmall", AppKey: "23456789", AppSecret: "tmall-secret"},
		wechatpaytest.Pusher{Source: "mp-pay", MchID: "1900000001", Signer: wechatpay.Signer{APIv3Key: apiv3, PrivateKey: key, Serial: "PUB_KEY_ID_01"}},
		standardtest.Pusher{Source: "mp", Secret: mpSecret, Channel: order.ChannelMiniProgram},
		qimentest.Pusher{Source: "wms", AppKey: "wms-key", AppSecret: "wms-secret", CustomerID: "C1001"},
		kuaidi100test.Pusher{Source: "kd100", Salt: "k100salt"},
		standardtest.Pusher{Source: "erp", Secret: erpSecret},
	}}
}
