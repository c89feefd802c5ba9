package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/graph/directives"
	"github.com/towerhq/tower/internal/audit"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/metrics"
)

// Authenticator checks credentials (internal/auth.Service).
type Authenticator interface {
	AuthenticateToken(ctx context.Context, secret string) (access.Principal, error)
	AuthenticateSession(ctx context.Context, token string) (access.Principal, string, error)
	Login(ctx context.Context, name, password, remote string) (auth.Session, error)
	Logout(ctx context.Context, p access.Principal, remote string) error
	Invalid(ctx context.Context, ps []access.Principal) ([]access.Principal, error)
	OnRevoke(func(auth.Revocation))
}

// Names of the browser session's cookie and of the header its requests
// carry the CSRF token in.
const (
	SessionCookie = "tower_session"
	CSRFHeader    = "X-CSRF-Token"
)

// Websocket close codes (graphql-transport-ws uses the same).
const (
	closeUnauthorized = 4401
	closeForbidden    = 4403
)

// Auth configures who may reach what.
type Auth struct {
	Service Authenticator
	// Policy is the schema's @hasRole; a role that may use no
	// subscription has its websocket closed at connection_init.
	Policy *directives.Policy
	// SecureCookies marks the session cookie Secure (HTTPS only). Set it
	// whenever Tower is reached over HTTPS, directly or through a proxy.
	SecureCookies bool
	// MetricsNetworks may read /metrics without credentials (nil:
	// loopback); others need an API token of the it or admin role.
	MetricsNetworks []netip.Prefix
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed when telling callers apart (login throttling, audit).
	TrustedProxies []netip.Prefix
	// RevalidateEvery rechecks the credentials of open websockets, so that
	// a revocation on another node closes them too.
	RevalidateEvery time.Duration
}

// authn is the server's side of authentication: the /graphql middleware,
// the login endpoints and the open websockets.
type authn struct {
	Auth
	m   *metrics.Metrics
	log *slog.Logger
	ws  *sockets
}

func newAuthn(a Auth, m *metrics.Metrics, log *slog.Logger) *authn {
	if a.RevalidateEvery <= 0 {
		a.RevalidateEvery = 5 * time.Second
	}
	if a.MetricsNetworks == nil { // unset, not set empty
		a.MetricsNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	n := &authn{Auth: a, m: m, log: log, ws: &sockets{open: map[*socket]struct{}{}}}
	if a.Service != nil {
		a.Service.OnRevoke(func(r auth.Revocation) { n.ws.close(r.Matches, "credentials revoked") })
	}
	return n
}

// remote is the caller's address: the peer's, or the one a trusted proxy
// says it forwarded for.
func (a *authn) remote(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !inAny(a.TrustedProxies, ip) {
		return host
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		hip, err := netip.ParseAddr(h)
		if err != nil {
			break
		}
		if !inAny(a.TrustedProxies, hip) {
			return h
		}
	}
	return host
}

func inAny(ps []netip.Prefix, ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// bearer returns the token of an "Authorization: Bearer <token>" value.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// refuse answers a GraphQL request refused for its credentials, in the
// shape GraphQL clients read.
func (a *authn) refuse(w http.ResponseWriter, status int, code, reason, msg string) {
	a.m.AuthRefusals.WithLabelValues(reason).Inc()
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tower"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": map[string]any{"code": code}}}})
}

func isWebsocket(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }

// guard authenticates every /graphql request: an API token in the
// Authorization header, or the session cookie with its CSRF token in
// X-CSRF-Token (a page of another site can make the browser send the
// cookie, never read the token). Websocket upgrades may instead
// authenticate in connection_init, so they pass without credentials.
func (a *authn) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := audit.WithRemote(r.Context(), a.remote(r))
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		upgrade := isWebsocket(r)
		if upgrade {
			ctx = context.WithValue(ctx, socketKey{}, &socket{})
		}
		if a.Service == nil {
			a.refuse(w, http.StatusUnauthorized, directives.CodeUnauthenticated, "unauthenticated", "authentication is not configured")
			return
		}
		switch h := r.Header.Get("Authorization"); {
		case h != "":
			tok, ok := bearer(h)
			p, err := a.Service.AuthenticateToken(ctx, tok)
			if !ok || err != nil {
				if err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
					a.log.ErrorContext(ctx, "authenticate token", "err", err)
				}
				a.refuse(w, http.StatusUnauthorized, directives.CodeUnauthenticated, "unauthenticated", "invalid, expired or revoked token")
				return
			}
			ctx = access.WithPrincipal(ctx, p)
		default:
			c, err := r.Cookie(SessionCookie)
			if err != nil {
				if !upgrade {
					a.refuse(w, http.StatusUnauthorized, directives.CodeUnauthenticated, "unauthenticated",
						"authentication required: log in or send Authorization: Bearer <token>")
					return
				}
				break
			}
			p, csrf, err := a.Service.AuthenticateSession(ctx, c.Value)
			if err != nil {
				if !errors.Is(err, auth.ErrUnauthenticated) {
					a.log.ErrorContext(ctx, "authenticate session", "err", err)
				}
				if !upgrade {
					a.refuse(w, http.StatusUnauthorized, directives.CodeUnauthenticated, "unauthenticated", "the session has ended: log in again")
					return
				}
				break
			}
			if !upgrade && !auth.CSRFMatches(csrf, r.Header.Get(CSRFHeader)) {
				a.refuse(w, http.StatusForbidden, directives.CodeForbidden, "csrf", "missing or wrong "+CSRFHeader+" header")
				return
			}
			ctx = access.WithPrincipal(ctx, p)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// socketKey holds the *socket of a websocket request, from the upgrade on.
type socketKey struct{}

// socket is one open GraphQL websocket: whose, how to end it, and the
// close code to end it with.
type socket struct {
	p      access.Principal
	cancel context.CancelFunc
	code   atomic.Int32
	reason atomic.Pointer[string]
}

// sockets are this node's open websockets.
type sockets struct {
	mu   sync.Mutex
	open map[*socket]struct{}
}

func (s *sockets) add(k *socket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open[k] = struct{}{}
}

func (s *sockets) remove(k *socket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, k)
}

// close ends the websockets of the principals match names, with 4401.
func (s *sockets) close(match func(access.Principal) bool, reason string) int {
	s.mu.Lock()
	var hit []*socket
	for k := range s.open {
		if match(k.p) {
			hit = append(hit, k)
		}
	}
	s.mu.Unlock()
	for _, k := range hit {
		k.reason.Store(&reason)
		k.code.Store(closeUnauthorized)
		k.cancel()
	}
	return len(hit)
}

func (s *sockets) principals() []access.Principal {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[[2]any]bool{}
	var out []access.Principal
	for k := range s.open {
		id := [2]any{k.p.Via, k.p.CredentialID}
		if !seen[id] {
			seen[id] = true
			out = append(out, k.p)
		}
	}
	return out
}

// revalidate closes the websockets whose credentials stopped being valid
// elsewhere (another node, the command line, expiry), until ctx ends.
func (a *authn) revalidate(ctx context.Context) {
	t := time.NewTicker(a.RevalidateEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ps := a.ws.principals()
		if len(ps) == 0 || a.Service == nil {
			continue
		}
		bad, err := a.Service.Invalid(ctx, ps)
		if err != nil {
			if ctx.Err() == nil {
				a.log.WarnContext(ctx, "recheck websocket credentials", "err", err)
			}
			continue
		}
		for _, p := range bad {
			n := a.ws.close(func(q access.Principal) bool { return q.Via == p.Via && q.CredentialID == p.CredentialID }, "credentials no longer valid")
			a.m.AuthRefusals.WithLabelValues("revoked_ws").Add(float64(n))
		}
	}
}

// initSocket authenticates a websocket at connection_init: the payload's
// Authorization (an API token, "Bearer " optional), else the session
// cookie of the upgrade request. No valid credentials: closed with 4401;
// a role that may not subscribe to anything: 4403.
func (a *authn) initSocket(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	refuse := func(code int, reason, msg string) (context.Context, *transport.InitPayload, error) {
		a.m.AuthRefusals.WithLabelValues(reason).Inc()
		ctx = transport.WithWebsocketCloseCode(ctx, code)
		ctx = transport.AppendCloseReason(ctx, msg)
		return ctx, nil, errors.New(msg)
	}
	p, ok := access.FromContext(ctx)
	if h := payload.Authorization(); h != "" {
		tok, isBearer := bearer(h)
		if !isBearer {
			tok = strings.TrimSpace(h)
		}
		var err error
		if a.Service == nil {
			err = auth.ErrUnauthenticated
		} else if p, err = a.Service.AuthenticateToken(ctx, tok); err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
			a.log.ErrorContext(ctx, "authenticate websocket token", "err", err)
		}
		if err != nil {
			return refuse(closeUnauthorized, "unauthenticated_ws", "unauthorized")
		}
	} else if !ok {
		return refuse(closeUnauthorized, "unauthenticated_ws", "unauthorized")
	}
	if a.Policy == nil || !a.Policy.MaySubscribe(p.Role) {
		return refuse(closeForbidden, "forbidden_ws", "forbidden: the "+p.Role.String()+" role may not subscribe")
	}
	k, _ := ctx.Value(socketKey{}).(*socket)
	if k == nil {
		k = &socket{}
	}
	ctx, k.cancel = context.WithCancel(access.WithPrincipal(ctx, p))
	k.p = p
	a.ws.add(k)
	return ctx, nil, nil
}

// closed forgets a websocket once the transport has closed it.
func (a *authn) closed(ctx context.Context, _ int) {
	if k, _ := ctx.Value(socketKey{}).(*socket); k != nil {
		a.ws.remove(k)
		if k.cancel != nil {
			k.cancel()
		}
	}
}

// closeCodes lets a websocket ended for its credentials close with 4401
// (the transport closes sockets whose context ends with 1000).
type closeCodes struct {
	transport.WebsocketImplementation
}

func (c closeCodes) Accept(w http.ResponseWriter, r *http.Request, o transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	conn, err := c.WebsocketImplementation.Accept(w, r, o)
	if err != nil {
		return conn, err
	}
	k, _ := r.Context().Value(socketKey{}).(*socket)
	if k == nil {
		return conn, nil
	}
	return &codedConn{WebsocketConn: conn, k: k}, nil
}

type codedConn struct {
	transport.WebsocketConn
	k *socket
}

func (c *codedConn) WriteClose(code int, reason string) error {
	if v := c.k.code.Load(); v != 0 {
		code = int(v)
		if r := c.k.reason.Load(); r != nil {
			reason = *r
		}
	}
	return c.WebsocketConn.WriteClose(code, reason)
}

// The transport looks for these optional methods on the connection itself.
var (
	_ transport.WebsocketReadLimiter   = (*codedConn)(nil)
	_ transport.WebsocketReadDeadliner = (*codedConn)(nil)
)

func (c *codedConn) SetReadLimit(n int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(n)
	}
}

func (c *codedConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}
