package server

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strconv"
	"strings"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
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

// remotesTracked bounds the per-remote limiters kept (least recently seen
// go first), so a sender rotating addresses cannot grow them.
const remotesTracked = 4096

// Refusals bounds what refused deliveries cost: each source, and each
// remote address, may have a few of them audited per second; past that
// they are answered and counted, not stored. Sources are configured and
// remotes kept in a bounded LRU, so the limiters are bounded too.
type Refusals struct {
	PerSecond float64
	Burst     int

	mu      sync.Mutex
	sources map[string]*rate.Limiter
	remotes *lru.Cache[string, *rate.Limiter]
}

func (r *Refusals) allow(source, remote string) bool {
	if r == nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sources == nil {
		r.sources = map[string]*rate.Limiter{}
		r.remotes, _ = lru.New[string, *rate.Limiter](remotesTracked)
	}
	src, ok := r.sources[source]
	if !ok {
		src = rate.NewLimiter(rate.Limit(r.PerSecond), r.Burst)
		r.sources[source] = src
	}
	rem, ok := r.remotes.Get(remote)
	if !ok {
		// One remote gets a fifth of a source's allowance: one noisy
		// address cannot use up the audit of the others.
		rem = rate.NewLimiter(rate.Limit(r.PerSecond/5), max(r.Burst/5, 1))
		r.remotes.Add(remote, rem)
	}
	return rem.Allow() && src.Allow()
}

// remoteHost is the sender's address without its port.
func remoteHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// trimUnverified cuts an unverified delivery down to what may be audited,
// noting the sizes it had.
func trimUnverified(d *ingest.Delivery) {
	if n := len(d.Body); n > unverifiedBodyBytes {
		sum := sha256.Sum256(d.Body)
		d.Headers[":body-bytes"] = strconv.Itoa(n)
		d.Headers[":body-sha256"] = hex.EncodeToString(sum[:])
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
