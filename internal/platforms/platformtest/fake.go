package platformtest

import (
	"github.com/towerhq/tower/internal/platforms"
)

// Keys are the private key files that sign simulated pushes, by platform
// type, for platforms whose signing key is the platform's own (WeChat Pay).
type Keys map[string]string

// FakeDef defines the fake of a platform whose configuration section is S.
type FakeDef[S platforms.Settings] struct {
	Platform platforms.Platform
	// Pusher sends a configured source's pushes; nil when there are none
	// to simulate for it.
	Pusher func(spec platforms.Spec, s S, keys Keys) (Pusher, error)
	// OrderList is the source's fake order-list API, for platforms with
	// one; false when the source has none.
	OrderList func(spec platforms.Spec, s S) (OrderList, bool)
	// DevKey returns the private key file that signs the source's simulated
	// pushes, making a throwaway pair when create is set and there is none;
	// "" when the platform signs with no key of its own.
	DevKey func(spec platforms.Spec, s S, create bool) (string, error)
}

// Fake is what the simulator plays of one platform, built from the same
// configured sources Tower runs with. Each platform's fake package exports
// one (douyintest.Fake), made with DefineFake; dev/simulator lists them.
type Fake struct {
	typ       string
	pusher    func(spec platforms.Spec, keys Keys) (Pusher, error)
	orderList func(spec platforms.Spec) (OrderList, bool)
	devKey    func(spec platforms.Spec, create bool) (string, error)
}

// DefineFake makes the Fake of d.
func DefineFake[S platforms.Settings](d FakeDef[S]) Fake {
	f := Fake{typ: d.Platform.Type()}
	if d.Pusher != nil {
		f.pusher = func(spec platforms.Spec, keys Keys) (Pusher, error) {
			s, err := platforms.SettingsOf[S](spec)
			if err != nil {
				return nil, err
			}
			return d.Pusher(spec, s, keys)
		}
	}
	if d.OrderList != nil {
		f.orderList = func(spec platforms.Spec) (OrderList, bool) {
			s, err := platforms.SettingsOf[S](spec)
			if err != nil {
				return OrderList{}, false
			}
			return d.OrderList(spec, s)
		}
	}
	if d.DevKey != nil {
		f.devKey = func(spec platforms.Spec, create bool) (string, error) {
			s, err := platforms.SettingsOf[S](spec)
			if err != nil {
				return "", err
			}
			return d.DevKey(spec, s, create)
		}
	}
	return f
}

// Type is the source type the fake plays.
func (f Fake) Type() string { return f.typ }

// Pusher sends spec's pushes; nil when there are none to simulate.
func (f Fake) Pusher(spec platforms.Spec, keys Keys) (Pusher, error) {
	if f.pusher == nil {
		return nil, nil
	}
	return f.pusher(spec, keys)
}

// OrderList is spec's fake order-list API, if its platform has one.
func (f Fake) OrderList(spec platforms.Spec) (OrderList, bool) {
	if f.orderList == nil {
		return OrderList{}, false
	}
	return f.orderList(spec)
}

// DevKey is the private key file that signs spec's simulated pushes (see
// FakeDef.DevKey).
func (f Fake) DevKey(spec platforms.Spec, create bool) (string, error) {
	if f.devKey == nil {
		return "", nil
	}
	return f.devKey(spec, create)
}
