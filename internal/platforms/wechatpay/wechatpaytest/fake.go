// Package wechatpaytest fakes WeChat Pay for the simulator: payment
// notifications to a wechatpay source, signed with a platform key pair that
// a dev or simulation node makes for itself (EnsureDevKeys), since the real
// platform key is WeChat's.
package wechatpaytest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
)

// Fake plays WeChat Pay for the simulator. Without a private key
// (platformtest.Keys) a source has no pushes: mini-program payments then
// go through the mini-program backend's source.
var Fake = platformtest.DefineFake(platformtest.FakeDef[wechatpay.Settings]{
	Platform: wechatpay.Platform,
	Pusher: func(spec platforms.Spec, s wechatpay.Settings, keys platformtest.Keys) (platformtest.Pusher, error) {
		file := keys[wechatpay.Type]
		if file == "" {
			return nil, nil
		}
		key, err := ReadPrivateKey(file)
		if err != nil {
			return nil, err
		}
		return Pusher{Source: spec.Name, MchID: s.MchID,
			Signer: wechatpay.Signer{APIv3Key: s.APIv3Key, PrivateKey: key, Serial: s.PlatformPublicKeyID}}, nil
	},
	DevKey: func(_ platforms.Spec, s wechatpay.Settings, create bool) (string, error) {
		if s.PlatformPublicKeyFile == "" {
			return "", nil
		}
		if create {
			return EnsureDevKeys(s.PlatformPublicKeyFile)
		}
		priv := privateKeyFile(s.PlatformPublicKeyFile)
		if _, err := os.Stat(priv); err != nil {
			return "", nil
		}
		return priv, nil
	},
})

// Pusher sends WeChat Pay v3 payment notifications for the mini-program's
// orders (payments only; its other events come from the mini-program
// backend).
type Pusher struct {
	Source string
	MchID  string
	Signer wechatpay.Signer
}

// Carries the mini-program's payments.
func (p Pusher) Carries() platformtest.Carries {
	return platformtest.Carries{System: order.SystemChannel, Channel: order.ChannelMiniProgram, Kinds: []order.Kind{order.KindPaid}}
}

func (p Pusher) Request(ctx context.Context, base string, e order.Event, _ *platformtest.Shipment, now time.Time) (*http.Request, error) {
	if e.Kind != order.KindPaid {
		return nil, platformtest.NotPushed(e)
	}
	var total int64
	if e.Data.Amount != nil {
		total = int64(*e.Data.Amount)
	}
	res := wechatpay.Transaction{
		MchID: p.MchID, OutTradeNo: e.Order.OrderNo, TransactionID: "42" + e.Order.OrderNo, TradeType: "JSAPI",
		TradeState: "SUCCESS", SuccessTime: e.OccurredAt.Format(time.RFC3339),
		Amount: wechatpay.TransactionAmount{Total: total, PayerTotal: total, Currency: "CNY"},
	}
	body, h, err := wechatpay.NewNotification(p.Signer, wechatpay.Notification{ID: "EV-" + e.ID, Resource: res, Timestamp: now.Unix()})
	if err != nil {
		return nil, err
	}
	return platformtest.Post(ctx, base+"/webhooks/"+p.Source, body, h)
}

// ReadPrivateKey reads the platform private key, a PKCS#1 or PKCS#8 PEM
// file.
func ReadPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wechatpay private key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("wechatpay private key %s: not PEM", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("wechatpay private key %s: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("wechatpay private key %s: not RSA", path)
	}
	return rk, nil
}

// privateKeyFile is where EnsureDevKeys keeps the private key of a public
// key file.
func privateKeyFile(publicKeyFile string) string {
	return filepath.Join(filepath.Dir(publicKeyFile), "wechatpay_platform_private.pem")
}

// EnsureDevKeys creates a throwaway WeChat Pay platform key pair for local
// development and simulation (the real platform key is WeChat's), if the
// public key file is missing. It returns the private key's path.
func EnsureDevKeys(publicKeyFile string) (string, error) {
	priv := privateKeyFile(publicKeyFile)
	if _, err := os.Stat(publicKeyFile); err == nil {
		return priv, nil
	}
	// Only the key folder is private: its parents (the project's .data)
	// must stay traversable for the project-local PostgreSQL's user.
	dir := filepath.Dir(publicKeyFile)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("wechatpay dev keys: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("wechatpay dev keys: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("wechatpay dev keys: %w", err)
	}
	pub, err := wechatpay.MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		return "", err
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(priv, privPEM, 0o600); err != nil {
		return "", fmt.Errorf("wechatpay dev keys: %w", err)
	}
	if err := os.WriteFile(publicKeyFile, pub, 0o644); err != nil {
		return "", fmt.Errorf("wechatpay dev keys: %w", err)
	}
	return priv, nil
}
