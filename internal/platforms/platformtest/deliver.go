package platformtest

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/platforms"
)

// Deliver hands req, as a pusher built it, to src as Tower's webhook
// handler would, and returns what src verified and parsed: a pusher's
// requests must pass the platform's own connector.
func Deliver(t *testing.T, src platforms.Source, req *http.Request) *platforms.Delivery {
	t.Helper()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := &platforms.Request{Header: req.Header, Query: req.URL.Query(), Body: body, ReceivedAt: time.Now()}
	if err := src.Verify(r); err != nil {
		t.Fatalf("verify: %v", err)
	}
	d, err := src.Parse(r)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if want := "/webhooks/" + src.Name(); req.URL.Path != want {
		t.Errorf("pushed to %s, want %s", req.URL.Path, want)
	}
	return d
}
