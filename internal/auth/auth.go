// Package auth owns Tower's accounts, browser sessions and API tokens (the
// users, sessions and api_tokens tables): it hashes passwords (argon2id),
// logs people in with failed attempts slowed down and counted, issues and
// revokes session and API tokens, and turns a presented secret into an
// access.Principal. Secrets are never stored or logged: tokens are kept as
// SHA-256 hashes and shown once, when made.
//
// Revocation takes effect at once: every check reads the database, and
// callers holding long-lived connections (websockets) are told through
// OnRevoke on this node, and find out with Invalid on the others.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/internal/audit"
)

// Errors callers tell apart.
var (
	// ErrUnauthenticated: the secret is unknown, expired or revoked, or
	// its account is disabled. Which of these is not said.
	ErrUnauthenticated = errors.New("not authenticated")
	// ErrBadCredentials: wrong name or password (which one is not said).
	ErrBadCredentials = errors.New("wrong name or password")
	ErrNotFound       = errors.New("not found")
	ErrExists         = errors.New("already exists")
	// ErrLastAdmin: the change would leave no enabled administrator.
	ErrLastAdmin = errors.New("the last enabled administrator cannot be disabled")
)

// ThrottledError refuses a login attempt made too soon after failures.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins; try again in %s", e.RetryAfter.Round(time.Second))
}

// InputError names the field of a request that is wrong.
type InputError struct{ Field, Reason string }

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// Options tune a Service; zero values take the defaults.
type Options struct {
	// SessionTTL ends a session this long after login (default 12h);
	// SessionIdle ends it after this long without a request (default 2h).
	SessionTTL, SessionIdle time.Duration
	// LockAfter failed logins in a row slow an account down: each further
	// failure locks it for LockBase doubled per failure, up to LockMax
	// (defaults 5, 30s, 15m).
	LockAfter         int
	LockBase, LockMax time.Duration
	// FailureDelay is added to every failed login's answer (default 500ms).
	FailureDelay time.Duration
	// RemoteFailures per minute (burst RemoteBurst) are allowed from one
	// remote address before it is refused for a while (defaults 10, 20).
	RemoteFailures float64
	RemoteBurst    int
	// Now is the real clock (sessions expire in real time whatever a
	// simulated clock says); time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
	// Failed counts failed logins by reason (metrics), when set.
	Failed func(reason string)
}

func (o *Options) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.SessionTTL, 12*time.Hour)
	set(&o.SessionIdle, 2*time.Hour)
	set(&o.LockBase, 30*time.Second)
	set(&o.LockMax, 15*time.Minute)
	if o.FailureDelay == 0 {
		o.FailureDelay = 500 * time.Millisecond
	}
	if o.LockAfter <= 0 {
		o.LockAfter = 5
	}
	if o.RemoteFailures <= 0 {
		o.RemoteFailures = 10
	}
	if o.RemoteBurst <= 0 {
		o.RemoteBurst = 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Failed == nil {
		o.Failed = func(string) {}
	}
}

// touchEvery bounds how often a session's last_seen_at or a token's
// last_used_at is written: once a minute is precise enough and keeps
// every request from being a write.
const touchEvery = time.Minute

// maxHashing bounds the argon2 hashes computed at once: each takes 19 MiB,
// and a flood of logins from many addresses must not take the memory.
const maxHashing = 4

// Service is the accounts, sessions and tokens of one Tower.
type Service struct {
	db      *bun.DB
	o       Options
	remotes *remoteLimiter
	hashing chan struct{}

	mu        sync.Mutex
	listeners []func(Revocation)
}

// New returns a Service over db.
func New(db *bun.DB, o Options) *Service {
	o.defaults()
	return &Service{db: db, o: o, remotes: newRemoteLimiter(o.RemoteFailures, o.RemoteBurst), hashing: make(chan struct{}, maxHashing)}
}

// Revocation names credentials that stopped being valid: one session or
// token, or every session of a user.
type Revocation struct {
	Via          access.Via
	CredentialID int64
	UserID       int64
}

// Matches reports whether p is one of the revoked credentials.
func (r Revocation) Matches(p access.Principal) bool {
	if r.UserID != 0 {
		return p.Via == access.ViaSession && p.UserID == r.UserID
	}
	return p.Via == r.Via && p.CredentialID == r.CredentialID
}

// OnRevoke calls f after each revocation made through this Service.
func (s *Service) OnRevoke(f func(Revocation)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, f)
}

func (s *Service) revoked(r Revocation) {
	s.mu.Lock()
	ls := append([]func(Revocation){}, s.listeners...)
	s.mu.Unlock()
	for _, f := range ls {
		f(r)
	}
}

// CheckName refuses account and token names that would be hard to tell
// apart or to audit: 1 to 64 characters, no spaces or control characters,
// and no ':' (the audit log writes tokens as token:NAME).
func CheckName(name string) error {
	n := utf8.RuneCountInString(name)
	switch {
	case !utf8.ValidString(name) || n == 0 || n > 64:
		return &InputError{"name", "needs 1 to 64 characters"}
	case stringsContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' }):
		return &InputError{"name", "may not contain spaces, control characters or ':'"}
	}
	return nil
}

func stringsContainsFunc(s string, f func(rune) bool) bool {
	for _, r := range s {
		if f(r) {
			return true
		}
	}
	return false
}

// checkGrant refuses a role and scopes an account cannot hold together.
func checkGrant(role access.Role, scopes access.Scopes) error {
	if role.IsZero() {
		return &InputError{"role", "required"}
	}
	if role == access.Admin && !scopes.Unlimited() {
		// Accounts and tokens are global: a scoped administrator could
		// still grant itself everything.
		return &InputError{"scopes", "an admin cannot be limited to channels or warehouses"}
	}
	return nil
}

// User is an account, without its password hash.
type User struct {
	ID          int64
	Name        string
	Role        access.Role
	Scopes      access.Scopes
	Demo        bool
	Disabled    bool
	LastLoginAt *time.Time
	CreatedAt   time.Time
	CreatedBy   string
	// TimeZone is the zone the user reads times in ("": the configured
	// business zone).
	TimeZone string
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Name     string
	Role     access.Role
	Scopes   access.Scopes
	Password string
	// Demo marks the accounts `make run` seeds; production refuses them.
	Demo bool
}

type userRow struct {
	ID          int64        `bun:"id"`
	Name        string       `bun:"name"`
	Role        string       `bun:"role"`
	Scopes      []string     `bun:"scopes,array"`
	Hash        string       `bun:"password_hash"`
	Demo        bool         `bun:"demo"`
	DisabledAt  sql.NullTime `bun:"disabled_at"`
	Failed      int          `bun:"failed_logins"`
	LockedUntil sql.NullTime `bun:"locked_until"`
	LastLoginAt sql.NullTime `bun:"last_login_at"`
	CreatedAt   time.Time    `bun:"created_at"`
	CreatedBy   string       `bun:"created_by"`
	TimeZone    string       `bun:"time_zone"`
}

const userColumns = `id, name, role, scopes, password_hash, demo, disabled_at, failed_logins, locked_until, last_login_at, created_at, created_by, time_zone`

func (r userRow) user() (User, error) {
	role, err := access.ParseRole(r.Role)
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", r.Name, err)
	}
	scopes, err := access.ParseScopes(r.Scopes)
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", r.Name, err)
	}
	u := User{ID: r.ID, Name: r.Name, Role: role, Scopes: scopes, Demo: r.Demo, Disabled: r.DisabledAt.Valid,
		CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, TimeZone: r.TimeZone}
	if r.LastLoginAt.Valid {
		u.LastLoginAt = &r.LastLoginAt.Time
	}
	return u, nil
}

// CreateUser adds an account; by is who creates it.
func (s *Service) CreateUser(ctx context.Context, nu NewUser, by string) (User, error) {
	if err := CheckName(nu.Name); err != nil {
		return User{}, err
	}
	if err := checkGrant(nu.Role, nu.Scopes); err != nil {
		return User{}, err
	}
	if err := CheckPassword(nu.Password); err != nil {
		return User{}, &InputError{"password", err.(*PasswordError).Reason}
	}
	hash, err := HashPassword(nu.Password)
	if err != nil {
		return User{}, err
	}
	now := s.o.Now()
	var r userRow
	err = s.db.NewRaw(`
		INSERT INTO users (name, role, scopes, password_hash, demo, created_at, created_by, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO NOTHING
		RETURNING `+userColumns,
		nu.Name, nu.Role.String(), pgdialect.Array(nonNil(nu.Scopes.Strings())), hash, nu.Demo, now, by, now).Scan(ctx, &r)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", nu.Name, ErrExists)
	}
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", nu.Name, err)
	}
	return r.user()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Users lists every account by name.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	var rows []userRow
	if err := s.db.NewRaw(`SELECT `+userColumns+` FROM users ORDER BY name`).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]User, 0, len(rows))
	for _, r := range rows {
		u, err := r.user()
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// User returns the account called name.
func (s *Service) User(ctx context.Context, name string) (User, error) {
	r, err := s.userRow(ctx, s.db, name, false)
	if err != nil {
		return User{}, err
	}
	return r.user()
}

func (s *Service) userRow(ctx context.Context, db bun.IDB, name string, lock bool) (userRow, error) {
	q := `SELECT ` + userColumns + ` FROM users WHERE name = ?`
	if lock {
		q += ` FOR UPDATE`
	}
	var r userRow
	err := db.NewRaw(q, name).Scan(ctx, &r)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("read user %s: %w", name, err)
	}
	return r, nil
}

// SetDisabled disables (ending every session of) or enables an account.
func (s *Service) SetDisabled(ctx context.Context, name string, disabled bool) (User, error) {
	var out User
	var userID int64
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		r, err := s.userRow(ctx, tx, name, true)
		if err != nil {
			return err
		}
		userID = r.ID
		now := s.o.Now()
		if disabled && !r.DisabledAt.Valid && r.Role == access.Admin.String() {
			var others int
			if err := tx.NewRaw(`SELECT count(*) FROM users WHERE role = ? AND disabled_at IS NULL AND id <> ?`,
				access.Admin.String(), r.ID).Scan(ctx, &others); err != nil {
				return fmt.Errorf("count admins: %w", err)
			}
			if others == 0 {
				return ErrLastAdmin
			}
		}
		var at any
		if disabled {
			at = now
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = ?, failed_logins = 0, locked_until = NULL, updated_at = ? WHERE id = ?`,
			at, now, r.ID); err != nil {
			return fmt.Errorf("disable user %s: %w", name, err)
		}
		if disabled {
			if err := endSessions(ctx, tx, r.ID, now); err != nil {
				return err
			}
		}
		r.DisabledAt = sql.NullTime{Time: now, Valid: disabled}
		out, err = r.user()
		return err
	})
	if err == nil && disabled {
		s.revoked(Revocation{UserID: userID})
	}
	return out, err
}

func endSessions(ctx context.Context, db bun.IDB, userID int64, now time.Time) error {
	if _, err := db.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, now, userID); err != nil {
		return fmt.Errorf("end sessions of user %d: %w", userID, err)
	}
	return nil
}

// EndSessions ends every session of the account (an admin logging
// someone out everywhere) and says how many were open.
func (s *Service) EndSessions(ctx context.Context, name string) (int, error) {
	r, err := s.userRow(ctx, s.db, name, false)
	if err != nil {
		return 0, err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?`,
		s.o.Now(), r.ID, s.o.Now())
	if err != nil {
		return 0, fmt.Errorf("end sessions of %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	s.revoked(Revocation{UserID: r.ID})
	return int(n), nil
}

// ResetPassword sets a new password, unlocks the account and ends its
// sessions (whoever knew the old password is logged out).
func (s *Service) ResetPassword(ctx context.Context, name, password string) error {
	if err := CheckPassword(password); err != nil {
		return &InputError{"password", err.(*PasswordError).Reason}
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	var userID int64
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		r, err := s.userRow(ctx, tx, name, true)
		if err != nil {
			return err
		}
		userID = r.ID
		now := s.o.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL, updated_at = ? WHERE id = ?`,
			hash, now, r.ID); err != nil {
			return fmt.Errorf("reset password of %s: %w", name, err)
		}
		return endSessions(ctx, tx, r.ID, now)
	})
	if err == nil {
		s.revoked(Revocation{UserID: userID})
	}
	return err
}

// ChangePassword lets a logged-in person replace their own password,
// given the current one; their other sessions end, keepSession stays.
func (s *Service) ChangePassword(ctx context.Context, userID, keepSession int64, current, next string) error {
	if err := CheckPassword(next); err != nil {
		return &InputError{"newPassword", err.(*PasswordError).Reason}
	}
	var hash string
	if err := s.db.NewRaw(`SELECT password_hash FROM users WHERE id = ? AND disabled_at IS NULL`, userID).Scan(ctx, &hash); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ErrUnauthenticated
		}
		return fmt.Errorf("read user %d: %w", userID, err)
	}
	ok, err := VerifyPassword(hash, current)
	if err != nil {
		return fmt.Errorf("verify password of user %d: %w", userID, err)
	}
	if !ok {
		return ErrBadCredentials
	}
	newHash, err := HashPassword(next)
	if err != nil {
		return err
	}
	now := s.o.Now()
	var ended []int64
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, newHash, now, userID); err != nil {
			return fmt.Errorf("change password of user %d: %w", userID, err)
		}
		return tx.NewRaw(`UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND id <> ? AND revoked_at IS NULL RETURNING id`,
			now, userID, keepSession).Scan(ctx, &ended)
	})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("change password of user %d: %w", userID, err)
	}
	for _, id := range ended {
		s.revoked(Revocation{Via: access.ViaSession, CredentialID: id})
	}
	return nil
}

// Session is a login: its secret goes into the HttpOnly cookie, its CSRF
// token to the page, which sends it back in a header.
type Session struct {
	Token     string
	CSRF      string
	ExpiresAt time.Time
	Principal access.Principal
}

// Login checks a name and password from remote and opens a session.
// Failures are slowed down (FailureDelay), counted per account (locking it
// for a growing while) and per remote address, and audited; which part was
// wrong is not said.
func (s *Service) Login(ctx context.Context, name, password, remote string) (Session, error) {
	now := s.o.Now()
	if wait := s.remotes.wait(remote, now); wait > 0 {
		s.o.Failed("remote_throttled")
		return Session{}, &ThrottledError{RetryAfter: wait}
	}
	var r userRow
	found := true
	err := s.db.NewRaw(`SELECT `+userColumns+` FROM users WHERE name = ?`, name).Scan(ctx, &r)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		found = false
	case err != nil:
		return Session{}, fmt.Errorf("login: read user: %w", err)
	}
	if found && r.LockedUntil.Valid && r.LockedUntil.Time.After(now) {
		// Locked: refused without looking at the password, so guessing
		// gains nothing while the lock lasts.
		s.o.Failed("account_locked")
		s.fail(ctx, remote, "login.throttled", "user "+r.Name, now)
		return Session{}, &ThrottledError{RetryAfter: r.LockedUntil.Time.Sub(now)}
	}
	hash := dummyHash()
	if found {
		hash = r.Hash
	}
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return Session{}, ctx.Err()
	}
	ok, err := VerifyPassword(hash, password)
	<-s.hashing
	if err != nil {
		return Session{}, fmt.Errorf("login: verify password of %s: %w", r.Name, err)
	}
	if !found || !ok || r.DisabledAt.Valid {
		return Session{}, s.loginFailed(ctx, r, found, ok, name, remote, now)
	}
	u, err := r.user()
	if err != nil {
		return Session{}, err
	}
	sess := Session{Token: newSecret(SessionPrefix), CSRF: rand.Text(), ExpiresAt: now.Add(s.o.SessionTTL)}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var id int64
		if err := tx.NewRaw(`
			INSERT INTO sessions (token_hash, user_id, csrf_token, remote, created_at, last_seen_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			hashSecret(sess.Token), u.ID, sess.CSRF, remote, now, now, sess.ExpiresAt).Scan(ctx, &id); err != nil {
			return fmt.Errorf("open session: %w", err)
		}
		sess.Principal = access.Principal{Name: u.Name, Role: u.Role, Scopes: u.Scopes, Via: access.ViaSession, CredentialID: id, UserID: u.ID}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ? WHERE id = ?`, now, u.ID); err != nil {
			return fmt.Errorf("record login: %w", err)
		}
		return audit.Record(ctx, tx, audit.Entry{At: now, Actor: u.Name, Action: "login", Subject: "user " + u.Name, Remote: remote})
	})
	if err != nil {
		return Session{}, fmt.Errorf("login %s: %w", u.Name, err)
	}
	return sess, nil
}

func (s *Service) loginFailed(ctx context.Context, r userRow, found, passwordOK bool, typed, remote string, now time.Time) error {
	subject, reason := "unknown user", "unknown_user"
	if found {
		subject, reason = "user "+r.Name, "wrong_password"
		if passwordOK && r.DisabledAt.Valid {
			reason = "disabled"
		}
	}
	_ = typed // never recorded: people type passwords into the name field
	s.o.Failed(reason)
	s.remotes.failed(remote, now)
	if found && reason == "wrong_password" {
		// One statement, so concurrent failures all count.
		_, err := s.db.ExecContext(ctx, `
			UPDATE users SET failed_logins = failed_logins + 1,
				locked_until = CASE WHEN failed_logins + 1 >= ? THEN ?::timestamptz + least(? * power(2, failed_logins + 1 - ?), ?) * interval '1 second' END
			WHERE id = ?`,
			s.o.LockAfter, now, s.o.LockBase.Seconds(), s.o.LockAfter, s.o.LockMax.Seconds(), r.ID)
		if err != nil {
			s.o.Logger.ErrorContext(ctx, "count failed login", "err", err)
		}
	}
	s.fail(ctx, remote, "login.failed", subject, now)
	// Slow every failure down the same, whatever went wrong.
	t := time.NewTimer(s.o.FailureDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return ErrBadCredentials
}

func (s *Service) fail(ctx context.Context, remote, action, subject string, now time.Time) {
	if err := audit.Record(ctx, s.db, audit.Entry{At: now, Actor: "anonymous", Action: action, Subject: subject, Remote: remote}); err != nil {
		s.o.Logger.ErrorContext(ctx, "audit failed login", "err", err)
	}
}

// Logout ends the session of p.
func (s *Service) Logout(ctx context.Context, p access.Principal, remote string) error {
	if p.Via != access.ViaSession {
		return nil
	}
	now := s.o.Now()
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, now, p.CredentialID); err != nil {
			return fmt.Errorf("end session: %w", err)
		}
		return audit.Record(ctx, tx, audit.Entry{At: now, Actor: p.Actor(), Action: "logout", Subject: "user " + p.Name, Remote: remote})
	})
	if err != nil {
		return err
	}
	s.revoked(Revocation{Via: access.ViaSession, CredentialID: p.CredentialID})
	return nil
}

// AuthenticateSession returns who holds the session token (a cookie's
// value) and the CSRF token its requests must carry.
func (s *Service) AuthenticateSession(ctx context.Context, token string) (access.Principal, string, error) {
	if !wellFormed(token, SessionPrefix) {
		return access.Principal{}, "", ErrUnauthenticated
	}
	var r struct {
		ID       int64        `bun:"id"`
		CSRF     string       `bun:"csrf_token"`
		Expires  time.Time    `bun:"expires_at"`
		Seen     time.Time    `bun:"last_seen_at"`
		Revoked  sql.NullTime `bun:"revoked_at"`
		UserID   int64        `bun:"user_id"`
		Name     string       `bun:"name"`
		Role     string       `bun:"role"`
		Scopes   []string     `bun:"scopes,array"`
		Disabled sql.NullTime `bun:"disabled_at"`
	}
	err := s.db.NewRaw(`
		SELECT s.id, s.csrf_token, s.expires_at, s.last_seen_at, s.revoked_at, u.id AS user_id, u.name, u.role, u.scopes, u.disabled_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`, hashSecret(token)).Scan(ctx, &r)
	if errors.Is(err, sql.ErrNoRows) {
		return access.Principal{}, "", ErrUnauthenticated
	}
	if err != nil {
		return access.Principal{}, "", fmt.Errorf("authenticate session: %w", err)
	}
	now := s.o.Now()
	if r.Revoked.Valid || r.Disabled.Valid || !now.Before(r.Expires) || now.Sub(r.Seen) >= s.o.SessionIdle {
		return access.Principal{}, "", ErrUnauthenticated
	}
	p, err := principal(r.Name, r.Role, r.Scopes, access.ViaSession, r.ID)
	if err != nil {
		return access.Principal{}, "", err
	}
	p.UserID = r.UserID
	if now.Sub(r.Seen) >= touchEvery {
		if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, now, r.ID); err != nil {
			s.o.Logger.WarnContext(ctx, "touch session", "err", err)
		}
	}
	return p, r.CSRF, nil
}

// CSRFMatches compares a presented CSRF token with the session's in
// constant time.
func CSRFMatches(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

func principal(name, role string, scopes []string, via access.Via, id int64) (access.Principal, error) {
	ro, err := access.ParseRole(role)
	if err != nil {
		return access.Principal{}, fmt.Errorf("%s %s: %w", via, name, err)
	}
	sc, err := access.ParseScopes(scopes)
	if err != nil {
		return access.Principal{}, fmt.Errorf("%s %s: %w", via, name, err)
	}
	return access.Principal{Name: name, Role: ro, Scopes: sc, Via: via, CredentialID: id}, nil
}

// Token is an API token as listed: never its secret.
type Token struct {
	ID         int64
	Name       string
	Prefix     string
	Role       access.Role
	Scopes     access.Scopes
	CreatedAt  time.Time
	CreatedBy  string
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// NewToken is what CreateToken needs.
type NewToken struct {
	Name   string
	Role   access.Role
	Scopes access.Scopes
	// ExpiresIn, when positive, ends the token this long from now.
	ExpiresIn time.Duration
}

type tokenRow struct {
	ID         int64        `bun:"id"`
	Name       string       `bun:"name"`
	Prefix     string       `bun:"prefix"`
	Role       string       `bun:"role"`
	Scopes     []string     `bun:"scopes,array"`
	CreatedAt  time.Time    `bun:"created_at"`
	CreatedBy  string       `bun:"created_by"`
	ExpiresAt  sql.NullTime `bun:"expires_at"`
	LastUsedAt sql.NullTime `bun:"last_used_at"`
	RevokedAt  sql.NullTime `bun:"revoked_at"`
}

const tokenColumns = `id, name, prefix, role, scopes, created_at, created_by, expires_at, last_used_at, revoked_at`

func (r tokenRow) token() (Token, error) {
	p, err := principal(r.Name, r.Role, r.Scopes, access.ViaToken, r.ID)
	if err != nil {
		return Token{}, err
	}
	t := Token{ID: r.ID, Name: r.Name, Prefix: r.Prefix, Role: p.Role, Scopes: p.Scopes, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}
	for _, f := range []struct {
		src sql.NullTime
		dst **time.Time
	}{{r.ExpiresAt, &t.ExpiresAt}, {r.LastUsedAt, &t.LastUsedAt}, {r.RevokedAt, &t.RevokedAt}} {
		if f.src.Valid {
			at := f.src.Time
			*f.dst = &at
		}
	}
	return t, nil
}

// CreateToken issues an API token and returns its secret, which is not
// kept: this is the only time anyone sees it.
func (s *Service) CreateToken(ctx context.Context, nt NewToken, by string) (string, Token, error) {
	if err := CheckName(nt.Name); err != nil {
		return "", Token{}, err
	}
	if err := checkGrant(nt.Role, nt.Scopes); err != nil {
		return "", Token{}, err
	}
	if nt.ExpiresIn < 0 {
		return "", Token{}, &InputError{"expires", "must be positive"}
	}
	secret := newSecret(TokenPrefix)
	now := s.o.Now()
	var expires any
	if nt.ExpiresIn > 0 {
		expires = now.Add(nt.ExpiresIn)
	}
	var r tokenRow
	err := s.db.NewRaw(`
		INSERT INTO api_tokens (name, token_hash, prefix, role, scopes, created_at, created_by, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING
		RETURNING `+tokenColumns,
		nt.Name, hashSecret(secret), secret[:displayLen], nt.Role.String(), pgdialect.Array(nonNil(nt.Scopes.Strings())), now, by, expires).Scan(ctx, &r)
	if errors.Is(err, sql.ErrNoRows) {
		return "", Token{}, fmt.Errorf("token %s: %w", nt.Name, ErrExists)
	}
	if err != nil {
		return "", Token{}, fmt.Errorf("create token %s: %w", nt.Name, err)
	}
	t, err := r.token()
	return secret, t, err
}

// Tokens lists every API token, live ones first, by name.
func (s *Service) Tokens(ctx context.Context) ([]Token, error) {
	var rows []tokenRow
	if err := s.db.NewRaw(`SELECT `+tokenColumns+` FROM api_tokens ORDER BY revoked_at IS NOT NULL, name, id DESC`).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := make([]Token, 0, len(rows))
	for _, r := range rows {
		t, err := r.token()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// RevokeToken ends the live token called name, at once.
func (s *Service) RevokeToken(ctx context.Context, name, by string) (Token, error) {
	var r tokenRow
	err := s.db.NewRaw(`UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE name = ? AND revoked_at IS NULL RETURNING `+tokenColumns,
		s.o.Now(), by, name).Scan(ctx, &r)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("token %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("revoke token %s: %w", name, err)
	}
	s.revoked(Revocation{Via: access.ViaToken, CredentialID: r.ID})
	return r.token()
}

// AuthenticateToken returns who holds an API token.
func (s *Service) AuthenticateToken(ctx context.Context, secret string) (access.Principal, error) {
	if !wellFormed(secret, TokenPrefix) {
		return access.Principal{}, ErrUnauthenticated
	}
	var r tokenRow
	err := s.db.NewRaw(`SELECT `+tokenColumns+` FROM api_tokens WHERE token_hash = ?`, hashSecret(secret)).Scan(ctx, &r)
	if errors.Is(err, sql.ErrNoRows) {
		return access.Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return access.Principal{}, fmt.Errorf("authenticate token: %w", err)
	}
	now := s.o.Now()
	if r.RevokedAt.Valid || (r.ExpiresAt.Valid && !now.Before(r.ExpiresAt.Time)) {
		return access.Principal{}, ErrUnauthenticated
	}
	p, err := principal(r.Name, r.Role, r.Scopes, access.ViaToken, r.ID)
	if err != nil {
		return access.Principal{}, err
	}
	if !r.LastUsedAt.Valid || now.Sub(r.LastUsedAt.Time) >= touchEvery {
		if _, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, now, r.ID); err != nil {
			s.o.Logger.WarnContext(ctx, "touch token", "err", err)
		}
	}
	return p, nil
}

// Invalid returns those of ps whose credentials no longer hold (revoked,
// expired, or the account disabled): the websockets they opened are closed.
// Revocations on another node show up here.
func (s *Service) Invalid(ctx context.Context, ps []access.Principal) ([]access.Principal, error) {
	var sessions, tokens []int64
	for _, p := range ps {
		if p.Via == access.ViaToken {
			tokens = append(tokens, p.CredentialID)
		} else {
			sessions = append(sessions, p.CredentialID)
		}
	}
	now := s.o.Now()
	valid := map[access.Via]map[int64]bool{access.ViaSession: {}, access.ViaToken: {}}
	if len(sessions) > 0 {
		var ids []int64
		if err := s.db.NewRaw(`
			SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id
			WHERE s.id = ANY(?) AND s.revoked_at IS NULL AND s.expires_at > ? AND u.disabled_at IS NULL`,
			pgdialect.Array(sessions), now).Scan(ctx, &ids); err != nil {
			return nil, fmt.Errorf("check sessions: %w", err)
		}
		for _, id := range ids {
			valid[access.ViaSession][id] = true
		}
	}
	if len(tokens) > 0 {
		var ids []int64
		if err := s.db.NewRaw(`SELECT id FROM api_tokens WHERE id = ANY(?) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`,
			pgdialect.Array(tokens), now).Scan(ctx, &ids); err != nil {
			return nil, fmt.Errorf("check tokens: %w", err)
		}
		for _, id := range ids {
			valid[access.ViaToken][id] = true
		}
	}
	var out []access.Principal
	for _, p := range ps {
		if !valid[p.Via][p.CredentialID] {
			out = append(out, p)
		}
	}
	return out, nil
}

// Admins counts the enabled administrators and enabled demo accounts:
// production refuses to start without the first or with the second.
func (s *Service) Admins(ctx context.Context) (admins, demo int, err error) {
	err = s.db.NewRaw(`SELECT count(*) FILTER (WHERE role = ? AND disabled_at IS NULL), count(*) FILTER (WHERE demo AND disabled_at IS NULL) FROM users`,
		access.Admin.String()).Scan(ctx, &admins, &demo)
	if err != nil {
		err = fmt.Errorf("count accounts: %w", err)
	}
	return admins, demo, err
}

// Prune deletes sessions that ended more than a day ago: a session row is
// only needed while it might be presented.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	cut := s.o.Now().Add(-24 * time.Hour)
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?`, cut, cut)
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
