package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/dev/pglocal"
	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/internal/audit"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/config"
)

// demoScopes limits the demo warehouse lead to one of the simulator's
// warehouses, so that trying Tower out shows what a scope does.
var demoScopes = map[access.Role][]string{access.Warehouse: {"warehouse=HZ-01"}}

// DemoAccount is one seeded account, for the start-up message.
type DemoAccount struct {
	Name   string
	Role   access.Role
	Scopes []string
}

// demoPasswordFile keeps the development password beside the project-local
// data, readable by its owner only: random per install, printed at every
// start, never in code.
const demoPasswordFile = "demo-password"

// seedDemo makes one demo account per role (dev and simulation modes) and
// returns them with their shared password. A password file that went
// missing gets a new password, and the accounts follow it.
func seedDemo(ctx context.Context, svc *auth.Service, dataDir string) ([]DemoAccount, string, error) {
	path := filepath.Join(dataDir, demoPasswordFile)
	raw, err := os.ReadFile(path)
	fresh := errors.Is(err, os.ErrNotExist)
	pw := strings.TrimSpace(string(raw))
	switch {
	case fresh:
		pw = "tower-" + strings.ToLower(rand.Text()[:12])
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return nil, "", fmt.Errorf("demo accounts: %w", err)
		}
		if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
			return nil, "", fmt.Errorf("demo accounts: %w", err)
		}
	case err != nil:
		return nil, "", fmt.Errorf("demo accounts: %w", err)
	}
	var out []DemoAccount
	for _, role := range access.Roles {
		scopes, _ := access.ParseScopes(demoScopes[role])
		name := "demo-" + role.String()
		_, err := svc.CreateUser(ctx, auth.NewUser{Name: name, Role: role, Scopes: scopes, Password: pw, Demo: true}, "make run")
		switch {
		case errors.Is(err, auth.ErrExists):
			if fresh {
				if err := svc.ResetPassword(ctx, name, pw); err != nil {
					return nil, "", fmt.Errorf("demo account %s: %w", name, err)
				}
			}
		case err != nil:
			return nil, "", fmt.Errorf("demo account %s: %w", name, err)
		}
		out = append(out, DemoAccount{Name: name, Role: role, Scopes: scopes.Strings()})
	}
	return out, pw, nil
}

// checkProductionAccounts refuses a production node with demo accounts,
// or without an administrator to manage the others.
func checkProductionAccounts(ctx context.Context, svc *auth.Service) error {
	admins, demo, err := svc.Admins(ctx)
	if err != nil {
		return err
	}
	if demo > 0 {
		return fmt.Errorf("production mode: %d demo accounts exist (made by make run); disable or remove them first (tower user disable demo-<role>)", demo)
	}
	if admins == 0 {
		return errors.New("production mode: no enabled admin account; create one first: tower user create --role admin --name NAME (password on standard input)")
	}
	return nil
}

// Accounts is the command line's way into accounts and tokens: `tower
// token ...` and `tower user ...` open the database, act, and close.
type Accounts struct {
	*auth.Service
	db    *bun.DB
	local *pglocal.Server
}

// cliActor is who the audit log records for command-line changes.
const cliActor = "cli"

// OpenAccounts connects to (and migrates) the configured database.
func OpenAccounts(ctx context.Context, cfg config.Config, log *slog.Logger) (*Accounts, error) {
	db, _, local, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return &Accounts{Service: auth.New(db, auth.Options{Logger: log}), db: db, local: local}, nil
}

// Close disconnects (and stops a project-local PostgreSQL this started).
func (a *Accounts) Close() {
	_ = a.db.Close()
	if a.local != nil {
		_ = a.local.Stop(context.Background())
	}
}

func (a *Accounts) record(ctx context.Context, action, subject string) error {
	return audit.Record(ctx, a.db, audit.Entry{At: time.Now(), Actor: cliActor, Action: action, Subject: subject})
}

// CreateToken issues a token from the command line, audited.
func (a *Accounts) CreateToken(ctx context.Context, nt auth.NewToken) (string, auth.Token, error) {
	secret, t, err := a.Service.CreateToken(ctx, nt, cliActor)
	if err != nil {
		return "", t, err
	}
	return secret, t, a.record(ctx, "token.created", fmt.Sprintf("token %s (%s)", t.Name, t.Role))
}

// RevokeToken revokes from the command line, audited. Open websockets of
// the token close within auth.revalidate_every on every node.
func (a *Accounts) RevokeToken(ctx context.Context, name string) error {
	if _, err := a.Service.RevokeToken(ctx, name, cliActor); err != nil {
		return err
	}
	return a.record(ctx, "token.revoked", "token "+name)
}

// CreateUser adds an account from the command line, audited.
func (a *Accounts) CreateUser(ctx context.Context, nu auth.NewUser) (auth.User, error) {
	u, err := a.Service.CreateUser(ctx, nu, cliActor)
	if err != nil {
		return u, err
	}
	return u, a.record(ctx, "user.created", fmt.Sprintf("user %s (%s)", u.Name, u.Role))
}

// SetDisabled disables or enables an account from the command line, audited.
func (a *Accounts) SetDisabled(ctx context.Context, name string, disabled bool) error {
	if _, err := a.Service.SetDisabled(ctx, name, disabled); err != nil {
		return err
	}
	return a.record(ctx, "user.disabled_set", fmt.Sprintf("user %s disabled=%v", name, disabled))
}

// ResetPassword sets a password from the command line, audited.
func (a *Accounts) ResetPassword(ctx context.Context, name, password string) error {
	if err := a.Service.ResetPassword(ctx, name, password); err != nil {
		return err
	}
	return a.record(ctx, "user.password_reset", "user "+name)
}
