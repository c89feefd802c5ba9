package server

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/internal/auth"
)

// maxLoginBody bounds a login request: a name and a password.
const maxLoginBody = 4 << 10

// sessionInfo is what the SPA learns about its session.
type sessionInfo struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Scopes    []string  `json:"scopes"`
	CSRFToken string    `json:"csrfToken"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func authFailure(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "error": msg})
}

// sameOrigin refuses a browser request sent from another site's page. A
// login form posted cross-site could log the victim into the attacker's
// account; JSON bodies and this check together stop it.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser, or a same-origin navigation
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

func (a *authn) cookie(r *http.Request, value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{Name: SessionCookie, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: a.SecureCookies || r.TLS != nil}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

// login is POST /auth/login {"name", "password"}: a session cookie and the
// CSRF token its requests must carry, or 401 (429 with Retry-After when
// too many attempts failed).
func (a *authn) login(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" || !sameOrigin(r) {
		authFailure(w, http.StatusBadRequest, "BAD_USER_INPUT", "send a JSON body {name, password} from Tower's own page")
		return
	}
	var in struct{ Name, Password string }
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLoginBody))
	if err != nil || json.Unmarshal(body, &in) != nil || in.Name == "" || in.Password == "" {
		authFailure(w, http.StatusBadRequest, "BAD_USER_INPUT", "send a JSON body {name, password}")
		return
	}
	if a.Service == nil {
		authFailure(w, http.StatusServiceUnavailable, "INTERNAL", "authentication is not configured")
		return
	}
	sess, err := a.Service.Login(r.Context(), in.Name, in.Password, a.remote(r))
	var te *auth.ThrottledError
	switch {
	case errors.As(err, &te):
		w.Header().Set("Retry-After", strconv.Itoa(int(te.RetryAfter.Round(time.Second)/time.Second)))
		authFailure(w, http.StatusTooManyRequests, "TOO_MANY_ATTEMPTS", te.Error())
		return
	case errors.Is(err, auth.ErrBadCredentials):
		authFailure(w, http.StatusUnauthorized, "UNAUTHENTICATED", "wrong name or password")
		return
	case err != nil:
		a.log.ErrorContext(r.Context(), "login", "err", err)
		authFailure(w, http.StatusInternalServerError, "INTERNAL", "internal error")
		return
	}
	a.m.Logins.WithLabelValues("ok").Inc()
	http.SetCookie(w, a.cookie(r, sess.Token, sess.ExpiresAt))
	writeJSON(w, http.StatusOK, info(sess.Principal, sess.CSRF, sess.ExpiresAt))
}

func info(p access.Principal, csrf string, expires time.Time) sessionInfo {
	sc := p.Scopes.Strings()
	if sc == nil {
		sc = []string{}
	}
	return sessionInfo{Name: p.Name, Role: p.Role.String(), Scopes: sc, CSRFToken: csrf, ExpiresAt: expires}
}

// sessionFrom authenticates the session cookie of r.
func (a *authn) sessionFrom(r *http.Request) (access.Principal, string, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || a.Service == nil {
		return access.Principal{}, "", false
	}
	p, csrf, err := a.Service.AuthenticateSession(r.Context(), c.Value)
	if err != nil {
		if !errors.Is(err, auth.ErrUnauthenticated) {
			a.log.ErrorContext(r.Context(), "authenticate session", "err", err)
		}
		return access.Principal{}, "", false
	}
	return p, csrf, true
}

// session is GET /auth/session: who the cookie belongs to and its CSRF
// token (the SPA asks after a reload), or 204 when nobody is logged in (a
// normal answer for the login page, not an error).
func (a *authn) session(w http.ResponseWriter, r *http.Request) {
	p, csrf, ok := a.sessionFrom(r)
	if !ok {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, info(p, csrf, time.Time{}))
}

// logout is POST /auth/logout, with the CSRF header: the session ends and
// the cookie is cleared.
func (a *authn) logout(w http.ResponseWriter, r *http.Request) {
	p, csrf, ok := a.sessionFrom(r)
	if ok && !auth.CSRFMatches(csrf, r.Header.Get(CSRFHeader)) {
		authFailure(w, http.StatusForbidden, "FORBIDDEN", "missing or wrong "+CSRFHeader+" header")
		return
	}
	if ok {
		if err := a.Service.Logout(r.Context(), p, a.remote(r)); err != nil {
			a.log.ErrorContext(r.Context(), "logout", "err", err)
			authFailure(w, http.StatusInternalServerError, "INTERNAL", "internal error")
			return
		}
	}
	http.SetCookie(w, a.cookie(r, "", time.Time{}))
	w.WriteHeader(http.StatusNoContent)
}

// metrics lets /metrics answer the configured networks, and elsewhere
// only an API token of the it or admin role.
func (a *authn) metrics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ip, err := netip.ParseAddr(a.remote(r)); err == nil && inAny(a.MetricsNetworks, ip) {
			next.ServeHTTP(w, r)
			return
		}
		if tok, ok := bearer(r.Header.Get("Authorization")); ok && a.Service != nil {
			if p, err := a.Service.AuthenticateToken(r.Context(), tok); err == nil && (p.Role == access.IT || p.Role == access.Admin) {
				next.ServeHTTP(w, r)
				return
			}
		}
		a.m.AuthRefusals.WithLabelValues("metrics").Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="tower"`)
		http.Error(w, "metrics: from an allowed network, or with an API token of the it or admin role", http.StatusUnauthorized)
	})
}
