package server

import (
	"strconv"
	"strings"
	"sync"

	"golang.org/x/time/rate"

	"github.com/towerhq/tower/internal/ingest"
)

// What an audit row of a sender that failed verification may hold: anyone
// can send those, so they get the first KiB of the body (enough to see what
// was sent) and a bounded set of headers, never the whole request.
const (
	unverifiedBodyBytes   = 1 << 10
	unverifiedHeaders     = 32
	unverifiedHeaderBytes = 512
)

// Refusals bounds what refused deliveries cost: each source may have a few
// of them audited per second; past that they are answered and counted, not
// stored. Sources are configured, so the limiters are bounded too.
type Refusals struct {
	PerSecond float64
	Burst     int

	mu     sync.Mutex
	limits map[string]*rate.Limiter
}

func (r *Refusals) allow(source string) bool {
	if r == nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.limits[source]
	if !ok {
		if r.limits == nil {
			r.limits = map[string]*rate.Limiter{}
		}
		l = rate.NewLimiter(rate.Limit(r.PerSecond), r.Burst)
		r.limits[source] = l
	}
	return l.Allow()
}

// trimUnverified cuts an unverified delivery down to what may be audited,
// noting the sizes it had.
func trimUnverified(d *ingest.Delivery) {
	if n := len(d.Body); n > unverifiedBodyBytes {
		d.Headers[":body-bytes"] = strconv.Itoa(n)
		d.Body = d.Body[:unverifiedBodyBytes]
	}
	if len(d.Headers) > unverifiedHeaders {
		kept := make(map[string]string, unverifiedHeaders+1)
		// Keep the headers that identify and sign a delivery first.
		for k, v := range d.Headers {
			if len(kept) < unverifiedHeaders/2 || isSignatureHeader(k) {
				kept[k] = v
			}
		}
		kept[":headers-dropped"] = strconv.Itoa(len(d.Headers) - len(kept))
		d.Headers = kept
	}
	for k, v := range d.Headers {
		if len(v) > unverifiedHeaderBytes {
			d.Headers[k] = v[:unverifiedHeaderBytes] // cut bytes: the store makes them valid text
		}
	}
}

func isSignatureHeader(k string) bool {
	switch k {
	case ":query", "content-type", "user-agent", "x-forwarded-for":
		return true
	}
	for _, part := range []string{"sign", "timestamp", "nonce", "serial", "id"} {
		if strings.Contains(k, part) { // audit header names are lower case
			return true
		}
	}
	return false
}
