package auth_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "auth", &testDB)) }

var migrateOnce = sync.OnceValue(func() error {
	return migrations.Migrate(context.Background(), testDB, quietLog)
})

// clock is a manual clock for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func setup(t *testing.T) (*auth.Service, *clock) {
	t.Helper()
	if err := migrateOnce(); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	s := auth.New(testDB, auth.Options{Now: c.Now, FailureDelay: time.Millisecond, SessionTTL: time.Hour, SessionIdle: 30 * time.Minute})
	return s, c
}

var seq struct {
	sync.Mutex
	n int
}

// name is unique in the package's database.
func name(prefix string) string {
	seq.Lock()
	defer seq.Unlock()
	seq.n++
	return prefix + "-" + time.Now().Format("150405.000000") + "-" + string(rune('a'+seq.n%26)) + strings.Repeat("x", seq.n%7)
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	h, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q: want an argon2id PHC string", h)
	}
	if h2, _ := auth.HashPassword("correct horse battery"); h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	tests := []struct {
		name, hash, pw string
		ok             bool
		err            bool
	}{
		{"right", h, "correct horse battery", true, false},
		{"wrong", h, "correct horse batterz", false, false},
		{"empty", h, "", false, false},
		{"not argon2id", "$2a$10$abcdefghijklmnopqrstuv", "x", false, true},
		{"absurd memory", "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5", "x", false, true},
		{"truncated", h[:len(h)-20], "correct horse battery", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := auth.VerifyPassword(tt.hash, tt.pw)
			if ok != tt.ok || (err != nil) != tt.err {
				t.Fatalf("VerifyPassword = %v, %v; want %v, error %v", ok, err, tt.ok, tt.err)
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pw string
		ok bool
	}{
		{"short", false},
		{"ten chars!", true},
		{"密码要足够长才行的呀", true},
		{strings.Repeat("a", 129), false},
		{"tab\tinside here", false},
		{"newline at end\n", false},
	}
	for _, tt := range tests {
		if err := auth.CheckPassword(tt.pw); (err == nil) != tt.ok {
			t.Errorf("CheckPassword(%q) = %v, want ok %v", tt.pw, err, tt.ok)
		}
	}
}

func TestCheckName(t *testing.T) {
	t.Parallel()
	for n, ok := range map[string]bool{"alice": true, "张三": true, "etl-bot_2": true, "": false, "a b": false, "token:x": false, strings.Repeat("n", 65): false} {
		if err := auth.CheckName(n); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", n, err, ok)
		}
	}
}

// An API token is shown once, kept only as a hash, recognisable by its
// prefix, works until it expires or is revoked, and records its last use.
func TestTokens(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	scopes, _ := access.ParseScopes([]string{"warehouse=HZ-01"})
	tn := name("etl")
	secret, tok, err := s.CreateToken(ctx, auth.NewToken{Name: tn, Role: access.Warehouse, Scopes: scopes, ExpiresIn: 2 * time.Hour}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, auth.TokenPrefix) || len(secret) != len(auth.TokenPrefix)+43 {
		t.Fatalf("secret %q: want tower_pat_ and 43 characters", secret)
	}
	if tok.Prefix != secret[:14] || tok.ExpiresAt == nil || tok.LastUsedAt != nil {
		t.Fatalf("token %+v", tok)
	}
	t.Run("hashed at rest", func(t *testing.T) {
		var stored []byte
		if err := testDB.NewRaw(`SELECT token_hash FROM api_tokens WHERE id = ?`, tok.ID).Scan(ctx, &stored); err != nil {
			t.Fatal(err)
		}
		var row string
		_ = testDB.NewRaw(`SELECT row_to_json(t)::text FROM api_tokens t WHERE id = ?`, tok.ID).Scan(ctx, &row)
		if len(stored) != 32 || bytes.Contains([]byte(row), []byte(secret[len(auth.TokenPrefix):])) {
			t.Fatalf("the secret is stored: %s", row)
		}
	})
	t.Run("authenticates", func(t *testing.T) {
		p, err := s.AuthenticateToken(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != tn || p.Role != access.Warehouse || p.Via != access.ViaToken || p.Actor() != "token:"+tn || !p.Scopes.Allows("douyin", "HZ-01") || p.Scopes.Allows("douyin", "SH-02") {
			t.Fatalf("principal %+v", p)
		}
		ts, _ := s.Tokens(ctx)
		for _, x := range ts {
			if x.ID == tok.ID && x.LastUsedAt == nil {
				t.Fatal("last use not recorded")
			}
		}
	})
	t.Run("wrong secrets", func(t *testing.T) {
		// The last character changed to one it is not.
		last := "A"
		if strings.HasSuffix(secret, "A") {
			last = "B"
		}
		for _, bad := range []string{"", "tower_pat_", secret[:len(secret)-1] + last, strings.Replace(secret, "pat", "ses", 1), secret + "x"} {
			if _, err := s.AuthenticateToken(ctx, bad); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("AuthenticateToken(%q) = %v, want ErrUnauthenticated", bad, err)
			}
		}
	})
	t.Run("name taken while live", func(t *testing.T) {
		if _, _, err := s.CreateToken(ctx, auth.NewToken{Name: tn, Role: access.IT}, "admin"); !errors.Is(err, auth.ErrExists) {
			t.Fatalf("second live token %s: %v, want ErrExists", tn, err)
		}
	})
	t.Run("no scoped admin", func(t *testing.T) {
		var ie *auth.InputError
		if _, _, err := s.CreateToken(ctx, auth.NewToken{Name: name("x"), Role: access.Admin, Scopes: scopes}, "admin"); !errors.As(err, &ie) {
			t.Fatalf("scoped admin token: %v", err)
		}
	})
	t.Run("expires", func(t *testing.T) {
		c.Add(2 * time.Hour)
		defer c.Add(-2 * time.Hour)
		if _, err := s.AuthenticateToken(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("expired token: %v", err)
		}
	})
	t.Run("revoked at once", func(t *testing.T) {
		var got []auth.Revocation
		s.OnRevoke(func(r auth.Revocation) { got = append(got, r) })
		p, _ := s.AuthenticateToken(ctx, secret)
		if _, err := s.RevokeToken(ctx, tn, "admin"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AuthenticateToken(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("revoked token: %v", err)
		}
		if len(got) != 1 || !got[0].Matches(p) {
			t.Fatalf("revocations %+v do not name %+v", got, p)
		}
		if bad, err := s.Invalid(ctx, []access.Principal{p}); err != nil || len(bad) != 1 {
			t.Fatalf("Invalid = %v, %v", bad, err)
		}
		if _, err := s.RevokeToken(ctx, tn, "admin"); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("second revoke: %v", err)
		}
		// The name is free again.
		if _, _, err := s.CreateToken(ctx, auth.NewToken{Name: tn, Role: access.IT}, "admin"); err != nil {
			t.Fatal(err)
		}
	})
}

func newUser(t *testing.T, s *auth.Service, role access.Role) (auth.User, string) {
	t.Helper()
	pw := "pw-" + name("secret")
	u, err := s.CreateUser(context.Background(), auth.NewUser{Name: name("user"), Role: role, Password: pw}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return u, pw
}

// A session opens with the right password, carries a CSRF token, and ends
// at its expiry, after being idle, at logout, when its account is disabled
// and when the password is reset.
func TestSessions(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	login := func(t *testing.T, u auth.User, pw string) auth.Session {
		t.Helper()
		sess, err := s.Login(ctx, u.Name, pw, "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		return sess
	}
	valid := func(sess auth.Session) bool {
		_, _, err := s.AuthenticateSession(ctx, sess.Token)
		return err == nil
	}
	t.Run("opens", func(t *testing.T) {
		u, pw := newUser(t, s, access.Ops)
		sess := login(t, u, pw)
		p, csrf, err := s.AuthenticateSession(ctx, sess.Token)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != u.Name || p.Role != access.Ops || p.Via != access.ViaSession || p.UserID != u.ID || csrf != sess.CSRF || csrf == "" {
			t.Fatalf("principal %+v, csrf %q", p, csrf)
		}
		if !strings.HasPrefix(sess.Token, auth.SessionPrefix) {
			t.Fatalf("session token %q", sess.Token)
		}
		if _, err := s.AuthenticateToken(ctx, sess.Token); err == nil {
			t.Fatal("a session token authenticates as an API token")
		}
	})
	t.Run("expires", func(t *testing.T) {
		u, pw := newUser(t, s, access.Ops)
		sess := login(t, u, pw)
		// Active all along, it still ends after SessionTTL.
		for range 3 {
			c.Add(15 * time.Minute)
			if !valid(sess) {
				t.Fatal("ended before its expiry")
			}
		}
		c.Add(16 * time.Minute)
		if valid(sess) {
			t.Fatal("valid after its expiry")
		}
	})
	t.Run("idle", func(t *testing.T) {
		u, pw := newUser(t, s, access.Ops)
		sess := login(t, u, pw)
		c.Add(31 * time.Minute)
		if valid(sess) {
			t.Fatal("valid after 31 idle minutes")
		}
	})
	t.Run("logout", func(t *testing.T) {
		u, pw := newUser(t, s, access.CS)
		sess := login(t, u, pw)
		if err := s.Logout(ctx, sess.Principal, ""); err != nil {
			t.Fatal(err)
		}
		if valid(sess) {
			t.Fatal("valid after logout")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		u, pw := newUser(t, s, access.CS)
		sess := login(t, u, pw)
		if _, err := s.SetDisabled(ctx, u.Name, true); err != nil {
			t.Fatal(err)
		}
		if valid(sess) {
			t.Fatal("valid after the account was disabled")
		}
		if _, err := s.Login(ctx, u.Name, pw, "10.0.0.2"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("login of a disabled account: %v", err)
		}
		if _, err := s.SetDisabled(ctx, u.Name, false); err != nil {
			t.Fatal(err)
		}
		login(t, u, pw)
	})
	t.Run("password reset", func(t *testing.T) {
		u, pw := newUser(t, s, access.IT)
		sess := login(t, u, pw)
		if err := s.ResetPassword(ctx, u.Name, "a new long password"); err != nil {
			t.Fatal(err)
		}
		if valid(sess) {
			t.Fatal("valid after a password reset")
		}
		if _, err := s.Login(ctx, u.Name, pw, "10.0.0.3"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("old password: %v", err)
		}
		login(t, u, "a new long password")
	})
	t.Run("last admin", func(t *testing.T) {
		users, _ := s.Users(ctx)
		var admins []auth.User
		for _, u := range users {
			if u.Role == access.Admin && !u.Disabled {
				admins = append(admins, u)
			}
		}
		if len(admins) == 0 {
			a, _ := newUser(t, s, access.Admin)
			admins = append(admins, a)
		}
		for _, a := range admins[1:] {
			if _, err := s.SetDisabled(ctx, a.Name, true); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SetDisabled(ctx, admins[0].Name, true); !errors.Is(err, auth.ErrLastAdmin) {
			t.Fatalf("disabling the last admin: %v", err)
		}
	})
}

// Failed logins are slowed: after five in a row the account is locked for
// a while, even to the right password, and one remote address guessing
// across accounts is refused too. Every failure is audited without what
// was typed.
func TestFailedLogins(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	u, pw := newUser(t, s, access.Ops)
	for i := range 5 {
		if _, err := s.Login(ctx, u.Name, "wrong password "+string(rune('a'+i)), "10.1.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	var te *auth.ThrottledError
	if _, err := s.Login(ctx, u.Name, pw, "10.1.0.2"); !errors.As(err, &te) || te.RetryAfter <= 0 || te.RetryAfter > 30*time.Second {
		t.Fatalf("right password while locked: %v, want throttled for up to 30s", err)
	}
	c.Add(31 * time.Second)
	if _, err := s.Login(ctx, u.Name, "still wrong!", "10.1.0.2"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("after the lock: %v", err)
	}
	if _, err := s.Login(ctx, u.Name, pw, "10.1.0.2"); !errors.As(err, &te) || te.RetryAfter <= 30*time.Second {
		t.Fatalf("the sixth failure should lock longer: %v", err)
	}
	c.Add(61 * time.Second)
	if _, err := s.Login(ctx, u.Name, pw, "10.1.0.2"); err != nil {
		t.Fatalf("right password after the lock: %v", err)
	}

	var n int
	if err := testDB.NewRaw(`SELECT count(*) FROM audit_log WHERE action = 'login.failed' AND subject = ?`, "user "+u.Name).Scan(ctx, &n); err != nil || n != 6 {
		t.Fatalf("audited failures: %d, %v; want 6", n, err)
	}
	var typed int
	_ = testDB.NewRaw(`SELECT count(*) FROM audit_log WHERE subject LIKE '%wrong%'`).Scan(ctx, &typed)
	if typed != 0 {
		t.Fatal("a typed password is in the audit log")
	}

	t.Run("per remote", func(t *testing.T) {
		remote := "10.9.9.9"
		var refused bool
		for i := range 30 {
			_, err := s.Login(ctx, name("nobody"), "whatever password", remote)
			if errors.As(err, &te) {
				refused = true
				if i < 20 {
					t.Fatalf("refused after %d failures, burst is 20", i)
				}
				break
			}
		}
		if !refused {
			t.Fatal("30 failures from one address, none refused")
		}
		if _, err := s.Login(ctx, u.Name, pw, remote); !errors.As(err, &te) {
			t.Fatalf("the right password from a refused address: %v", err)
		}
		if _, err := s.Login(ctx, u.Name, pw, "10.9.9.10"); err != nil {
			t.Fatalf("another address: %v", err)
		}
	})
}

var quietLog = slogDiscard()

// BenchmarkVerifyPassword is what one login costs the server (argon2id,
// 19 MiB, 2 passes): the budget behind maxHashing and the login throttle.
func BenchmarkVerifyPassword(b *testing.B) {
	h, err := auth.HashPassword("correct horse battery")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _ := auth.VerifyPassword(h, "correct horse battery"); !ok {
			b.Fatal("no match")
		}
	}
}
