package simulator

import (
	"errors"
	"fmt"

	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
)

// RoutesFrom builds the pushers and the fake order lists for the sources a
// Tower configuration declares, with their secrets: the simulator signs
// exactly what that Tower verifies. WeChat Pay needs the platform private
// key matching the configured public key (wechatpayKey, a PKCS#1 or PKCS#8
// PEM file); without it mini-program payments go through the mini-program
// backend's source.
func RoutesFrom(cfg config.Config, wechatpayKey string) (Routes, []platformtest.OrderList, error) {
	keys := platformtest.Keys{wechatpay.Type: wechatpayKey}
	var (
		r     Routes
		lists []platformtest.OrderList
		paths = map[string]bool{}
	)
	for _, s := range cfg.Sources {
		f, ok := fakeOf(s.Type)
		if !ok {
			continue
		}
		p, err := f.Pusher(s.Spec(), keys)
		if err != nil {
			return nil, nil, fmt.Errorf("simulator: source %q: %w", s.Name, err)
		}
		if p != nil {
			r = append(r, p)
		}
		// One fake per order-list API: the first source of its platform.
		if l, ok := f.OrderList(s.Spec()); ok && !paths[l.Path] {
			paths[l.Path] = true
			lists = append(lists, l)
		}
	}
	if _, ok := r.fallback(); !ok {
		return nil, nil, errors.New("simulator: the configuration has no standard source to fall back on")
	}
	return r, lists, nil
}

// DevKeys are the private key files that sign the simulated pushes of
// platforms whose signing key is the platform's own (WeChat Pay's platform
// key), by platform type, the first source's where several have one;
// create makes a throwaway pair where there is none.
func DevKeys(cfg config.Config, create bool) (platformtest.Keys, error) {
	keys := platformtest.Keys{}
	for _, s := range cfg.Sources {
		f, ok := fakeOf(s.Type)
		if !ok {
			continue
		}
		key, err := f.DevKey(s.Spec(), create)
		if err != nil {
			return nil, fmt.Errorf("simulator: source %q: %w", s.Name, err)
		}
		if key != "" && keys[s.Type] == "" {
			keys[s.Type] = key
		}
	}
	return keys, nil
}
