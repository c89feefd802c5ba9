package platformtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/towerhq/tower/domain/order"
)

// Shipment is what a push knows of its order beyond the event: the
// warehouse and courier it ships with, and the order's events (a courier
// push resends the track so far).
type Shipment struct {
	Warehouse, Courier, TrackingNo string
	Events                         []order.Event
}

// Pusher sends one source's pushes as its platform would: Request builds
// the signed HTTP request for one event, to POST {baseURL}/webhooks/{source}.
// now is the wall clock: signatures carry real time even when the
// simulated day is compressed.
type Pusher interface {
	Request(ctx context.Context, baseURL string, e order.Event, sh *Shipment, now time.Time) (*http.Request, error)
	// Carries says which events the pusher sends.
	Carries() Carries
}

// Carries is which events a pusher sends: those System reports, of Channel
// when set, of Kinds when set. The most specific match sends an event.
type Carries struct {
	System  order.System
	Channel string
	Kinds   []order.Kind
	// Fallback, when above 0, makes the pusher send what no pusher matches,
	// the highest first: the brand's ERP before the mini-program backend.
	Fallback int
}

// ErrNotPushed is returned (wrapped) by a pusher asked for an event its
// platform does not push.
var ErrNotPushed = errors.New("the platform does not push this event")

// NotPushed is the ErrNotPushed error of e.
func NotPushed(e order.Event) error {
	return fmt.Errorf("%w: %s from %s on %s", ErrNotPushed, e.Kind, e.System, e.Order.Channel)
}

// Post is a POST request of body to url with the headers h.
func Post(ctx context.Context, url string, body []byte, h http.Header) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return req, nil
}
