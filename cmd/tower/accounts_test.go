package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/pgtest"
)

// The command line makes, lists and revokes tokens and accounts: a new
// token is printed once, alone on the last line, and works; a revoked one
// does not; a password comes from standard input.
func TestAccountCommands(t *testing.T) {
	dsn, drop := pgtest.CreateDB(t, "cli")
	defer drop()
	cfgFile := filepath.Join(t.TempDir(), "tower.yaml")
	if err := os.WriteFile(cfgFile, []byte("log_level: warn\ndatabase_url: \""+dsn+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := func(t *testing.T, stdin string, args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		var err error
		switch args[0] {
		case "token":
			err = token(ctx, args[1:], &out)
		case "user":
			err = user(ctx, args[1:], strings.NewReader(stdin), &out)
		}
		return out.String(), err
	}

	out, err := run(t, "", "token", "create", "--role", "warehouse", "--name", "wms-sync", "--scope", "warehouse=HZ-01", "--expires", "720h", "--config", cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	secret := lines[len(lines)-1]
	if !strings.HasPrefix(secret, auth.TokenPrefix) || strings.Contains(secret, " ") || strings.Count(out, secret) != 1 {
		t.Fatalf("output:\n%s", out)
	}
	db, err := pgtest.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := auth.New(db, auth.Options{})
	p, err := svc.AuthenticateToken(ctx, secret)
	if err != nil || p.Role.String() != "warehouse" || !p.Scopes.Allows("douyin", "HZ-01") || p.Scopes.Allows("douyin", "SH-02") {
		t.Fatalf("the printed token: %+v, %v", p, err)
	}
	if out, err := run(t, "", "token", "list", "--config", cfgFile); err != nil || !strings.Contains(out, "wms-sync") || strings.Contains(out, secret[len(auth.TokenPrefix)+4:]) {
		t.Fatalf("token list: %v\n%s", err, out)
	}
	if _, err := run(t, "", "token", "revoke", "wms-sync", "--config", cfgFile); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateToken(ctx, secret); err == nil {
		t.Fatal("a revoked token still works")
	}
	if _, err := run(t, "", "token", "create", "--role", "root", "--name", "x", "--config", cfgFile); err == nil {
		t.Fatal("an unknown role was accepted")
	}

	if _, err := run(t, "a strong password\n", "user", "create", "--role", "admin", "--name", "alice", "--config", cfgFile); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, "alice", "a strong password", "127.0.0.1"); err != nil {
		t.Fatalf("login with the piped password: %v", err)
	}
	if _, err := run(t, "short\n", "user", "create", "--role", "cs", "--name", "bob", "--config", cfgFile); err == nil {
		t.Fatal("a short password was accepted")
	}
	if _, err := run(t, "another long password\n", "user", "reset-password", "alice", "--config", cfgFile); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, "alice", "another long password", "127.0.0.1"); err != nil {
		t.Fatalf("login after reset-password: %v", err)
	}
	// The last admin stays enabled.
	if _, err := run(t, "", "user", "disable", "alice", "--config", cfgFile); err == nil {
		t.Fatal("the last admin was disabled")
	}
	var actions []string
	if err := db.NewRaw(`SELECT action FROM audit_log WHERE actor = 'cli' ORDER BY id`).Scan(ctx, &actions); err != nil {
		t.Fatal(err)
	}
	if strings.Join(actions, ",") != "token.created,token.revoked,user.created,user.password_reset" {
		t.Fatalf("audited: %v", actions)
	}
}
