package auth

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// maxRemotes bounds the remote addresses whose failures are remembered:
// an attacker rotating addresses evicts old entries instead of growing
// memory.
const maxRemotes = 10_000

// remoteLimiter counts failed logins per remote address: each failure
// takes a token, and an address without tokens is refused until one comes
// back. Successful logins cost nothing.
type remoteLimiter struct {
	perMinute float64
	burst     int
	seen      *lru.Cache[string, *rate.Limiter]
}

func newRemoteLimiter(perMinute float64, burst int) *remoteLimiter {
	c, _ := lru.New[string, *rate.Limiter](maxRemotes)
	return &remoteLimiter{perMinute: perMinute, burst: burst, seen: c}
}

// wait is how long remote must wait before its next attempt (0: now).
func (l *remoteLimiter) wait(remote string, now time.Time) time.Duration {
	lim, ok := l.seen.Get(remote)
	if !ok || lim.TokensAt(now) >= 1 {
		return 0
	}
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return max(d, time.Second)
}

// failed takes a token from remote.
func (l *remoteLimiter) failed(remote string, now time.Time) {
	lim := rate.NewLimiter(rate.Limit(l.perMinute/60), l.burst)
	if prev, ok, _ := l.seen.PeekOrAdd(remote, lim); ok {
		lim = prev
	}
	lim.AllowN(now, 1)
}
