package simulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/platforms/douyin"
	"github.com/towerhq/tower/internal/platforms/douyin/douyintest"
	"github.com/towerhq/tower/internal/platforms/kuaidi100"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/qimen"
	"github.com/towerhq/tower/internal/platforms/standard"
	"github.com/towerhq/tower/internal/platforms/standard/standardtest"
	"github.com/towerhq/tower/internal/platforms/tmall"
	"github.com/towerhq/tower/internal/platforms/tmall/tmalltest"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
)

// RoutesFrom builds the wires for the sources a Tower configuration
// declares, with their secrets: the simulator signs exactly what that Tower
// verifies. WeChat Pay needs the platform private key matching the
// configured public key (wechatpayKey, a PKCS#1 or PKCS#8 PEM file); without
// it mini-program payments go through the mini-program backend's source.
func RoutesFrom(cfg config.Config, wechatpayKey string) (Routes, []platformtest.OrderList, error) {
	var r Routes
	var pull []platformtest.OrderList
	for _, s := range cfg.Sources {
		switch st := s.Settings.(type) {
		case douyin.Settings:
			if r.Douyin == nil {
				r.Douyin = DouyinWire{Source: s.Name, AppKey: st.AppKey, AppSecret: st.AppSecret}
				pull = append(pull, douyintest.OrderList(st.AppKey, st.AppSecret))
			}
		case tmall.Settings:
			if r.Tmall == nil {
				r.Tmall = TmallWire{Source: s.Name, AppKey: st.AppKey, AppSecret: st.AppSecret}
				pull = append(pull, tmalltest.OrderList(st.AppKey, st.AppSecret))
			}
		case wechatpay.Settings:
			if r.WechatPay == nil && wechatpayKey != "" {
				key, err := readPrivateKey(wechatpayKey)
				if err != nil {
					return r, pull, err
				}
				r.WechatPay = WechatPayWire{Source: s.Name, MchID: st.MchID,
					Signer: wechatpay.Signer{APIv3Key: st.APIv3Key, PrivateKey: key, Serial: st.PlatformPublicKeyID}}
			}
		case qimen.Settings:
			if r.WMS == nil {
				r.WMS = QimenWire{Source: s.Name, AppKey: st.AppKey, AppSecret: st.AppSecret, CustomerID: st.CustomerID}
			}
		case kuaidi100.Settings:
			if r.Courier == nil {
				r.Courier = Kuaidi100Wire{Source: s.Name, Salt: st.Salt}
			}
		case standard.Settings:
			if len(st.Secrets) == 0 {
				continue
			}
			w := StandardWire{Source: s.Name, Secret: st.Secrets[0]}
			switch {
			case s.Channel == "miniprogram" && r.MiniProgram == nil:
				r.MiniProgram = w
				pull = append(pull, standardtest.OrderList(st.Secrets[0]))
			case s.Channel == "" && r.Canonical == nil:
				r.Canonical = w
			}
		}
	}
	if r.Canonical == nil && r.MiniProgram != nil {
		r.Canonical = r.MiniProgram
	}
	if r.Canonical == nil {
		return r, pull, errors.New("simulator: the configuration has no standard source to fall back on")
	}
	return r, pull, nil
}

func readPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("simulator: wechatpay private key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("simulator: wechatpay private key %s: not PEM", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("simulator: wechatpay private key %s: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("simulator: wechatpay private key %s: not RSA", path)
	}
	return rk, nil
}

// DevKeys are, by platform type, the private key files that sign the
// simulated pushes of platforms whose keys are the platform's own (WeChat
// Pay's platform key), found next to the configured public key; create
// makes a throwaway pair where there is none.
func DevKeys(cfg config.Config, create bool) (map[string]string, error) {
	keys := map[string]string{}
	for _, s := range cfg.Sources {
		st, ok := s.Settings.(wechatpay.Settings)
		if !ok || st.PlatformPublicKeyFile == "" {
			continue
		}
		priv := filepath.Join(filepath.Dir(st.PlatformPublicKeyFile), "wechatpay_platform_private.pem")
		if create {
			var err error
			if priv, err = EnsureDevKeys(st.PlatformPublicKeyFile); err != nil {
				return nil, err
			}
		} else if _, err := os.Stat(priv); err != nil {
			continue
		}
		if keys[wechatpay.Type] == "" {
			keys[wechatpay.Type] = priv
		}
	}
	return keys, nil
}

// EnsureDevKeys creates a throwaway WeChat Pay platform key pair for local
// development and simulation (the real platform key is WeChat's), if the
// public key file is missing. It returns the private key's path.
func EnsureDevKeys(publicKeyFile string) (string, error) {
	priv := filepath.Join(filepath.Dir(publicKeyFile), "wechatpay_platform_private.pem")
	if _, err := os.Stat(publicKeyFile); err == nil {
		return priv, nil
	}
	// Only the key folder is private: its parents (the project's .data)
	// must stay traversable for the project-local PostgreSQL's user.
	dir := filepath.Dir(publicKeyFile)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("simulator: dev keys: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("simulator: dev keys: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("simulator: dev keys: %w", err)
	}
	pub, err := wechatpay.MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		return "", err
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(priv, privPEM, 0o600); err != nil {
		return "", fmt.Errorf("simulator: dev keys: %w", err)
	}
	if err := os.WriteFile(publicKeyFile, pub, 0o644); err != nil {
		return "", fmt.Errorf("simulator: dev keys: %w", err)
	}
	return priv, nil
}
