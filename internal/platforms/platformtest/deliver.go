package platformtest

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/towerhq/tower/internal/platforms"
)

// Deliver hands req, as a pusher built it, to src as Tower's webhook
// handler would, and returns what src verified and parsed: a pusher's
// requests must pass the platform's own connector.
func Deliver(src platforms.Source, req *http.Request) (*platforms.Delivery, error) {
	if want := "/webhooks/" + src.Name(); req.URL.Path != want {
		return nil, fmt.Errorf("pushed to %s, want %s", req.URL.Path, want)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	r := &platforms.Request{Header: req.Header, Query: req.URL.Query(), Body: body, ReceivedAt: time.Now()}
	if err := src.Verify(r); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	d, err := src.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	return d, nil
}
