package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/internal/app"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/config"
)

// scopeFlags collects repeated --scope values.
type scopeFlags []string

func (s *scopeFlags) String() string     { return strings.Join(*s, ",") }
func (s *scopeFlags) Set(v string) error { *s = append(*s, v); return nil }

// splitName takes a leading NAME off args, so that `tower token revoke NAME
// --config FILE` reads as written (Go's flags stop at the first
// positional argument).
func splitName(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

// openAccounts loads the configuration and connects, quietly: these
// commands print only what they were asked for.
func openAccounts(ctx context.Context, cfg config.Config) (*app.Accounts, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return app.OpenAccounts(ctx, cfg, log)
}

// grantFlags reads --role and --scope.
func grantFlags(role string, scopes []string) (access.Role, access.Scopes, error) {
	r, err := access.ParseRole(role)
	if err != nil {
		return r, access.Scopes{}, fmt.Errorf("--role: %w", err)
	}
	sc, err := access.ParseScopes(scopes)
	if err != nil {
		return r, sc, fmt.Errorf("--scope: %w", err)
	}
	return r, sc, nil
}

func token(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("token: want create, revoke or list")
	}
	sub, args := args[0], args[1:]
	var role, name string
	var expires time.Duration
	var scopes scopeFlags
	posName, args := splitName(args)
	cfg, rest, err := loadConfigWith("token "+sub, args, func(fs *flag.FlagSet) {
		if sub == "create" {
			fs.StringVar(&role, "role", "", "role: ceo, ops, warehouse, cs, it or admin")
			fs.StringVar(&name, "name", "", "the token's name (who uses it, e.g. erp-sync)")
			fs.Var(&scopes, "scope", "channel=X or warehouse=Y (repeatable); none: everything")
			fs.DurationVar(&expires, "expires", 0, "lifetime, e.g. 720h; 0: no expiry")
		}
	})
	if err != nil {
		return err
	}
	if posName == "" && len(rest) > 0 {
		posName = rest[0]
	}
	acc, err := openAccounts(ctx, cfg)
	if err != nil {
		return err
	}
	defer acc.Close()
	switch sub {
	case "create":
		r, sc, err := grantFlags(role, scopes)
		if err != nil {
			return err
		}
		if name == "" {
			return errors.New("token create: --name is required")
		}
		secret, t, err := acc.CreateToken(ctx, auth.NewToken{Name: name, Role: r, Scopes: sc, ExpiresIn: expires})
		if err != nil {
			return fmt.Errorf("token create: %w", err)
		}
		exp := "never expires"
		if t.ExpiresAt != nil {
			exp = "expires " + t.ExpiresAt.Format(time.RFC3339)
		}
		scope := "everything"
		if !t.Scopes.Unlimited() {
			scope = strings.Join(t.Scopes.Strings(), ", ")
		}
		fmt.Fprintf(out, "API token %s: role %s, scope %s, %s.\n", t.Name, t.Role, scope, exp)
		fmt.Fprintln(out, "It is shown only now; Tower keeps only its hash. Send it as Authorization: Bearer <token>.")
		fmt.Fprintln(out, secret)
		return nil
	case "revoke":
		if posName == "" {
			return errors.New("token revoke: name the token (tower token revoke NAME)")
		}
		if err := acc.RevokeToken(ctx, posName); err != nil {
			return fmt.Errorf("token revoke: %w", err)
		}
		fmt.Fprintf(out, "API token %s revoked.\n", posName)
		return nil
	case "list":
		ts, err := acc.Tokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tPREFIX\tROLE\tSCOPES\tEXPIRES\tLAST USED\tREVOKED")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Prefix, t.Role, strings.Join(t.Scopes.Strings(), ","), when(t.ExpiresAt), when(t.LastUsedAt), when(t.RevokedAt))
		}
		return tw.Flush()
	}
	return fmt.Errorf("token: unknown subcommand %q (want create, revoke or list)", sub)
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// readPassword reads one line of standard input: pipe it in, so that it
// appears in no process list or shell history.
func readPassword(in io.Reader) (string, error) {
	if f, ok := in.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(os.Stderr, "password (shown as typed; better piped in): ")
		}
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on standard input")
	}
	return pw, nil
}

func user(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("user: want create, disable, enable, reset-password or list")
	}
	sub, args := args[0], args[1:]
	var role, name string
	var scopes scopeFlags
	posName, args := splitName(args)
	cfg, rest, err := loadConfigWith("user "+sub, args, func(fs *flag.FlagSet) {
		if sub == "create" {
			fs.StringVar(&role, "role", "", "role: ceo, ops, warehouse, cs, it or admin")
			fs.StringVar(&name, "name", "", "the account's name")
			fs.Var(&scopes, "scope", "channel=X or warehouse=Y (repeatable); none: everything")
		}
	})
	if err != nil {
		return err
	}
	if posName == "" && len(rest) > 0 {
		posName = rest[0]
	}
	if sub != "create" && sub != "list" && posName == "" {
		return fmt.Errorf("user %s: name the account (tower user %s NAME)", sub, sub)
	}
	var pw string
	if sub == "create" || sub == "reset-password" {
		if pw, err = readPassword(in); err != nil {
			return err
		}
		if err := auth.CheckPassword(pw); err != nil {
			return err
		}
	}
	acc, err := openAccounts(ctx, cfg)
	if err != nil {
		return err
	}
	defer acc.Close()
	switch sub {
	case "create":
		r, sc, err := grantFlags(role, scopes)
		if err != nil {
			return err
		}
		if name == "" {
			return errors.New("user create: --name is required")
		}
		u, err := acc.CreateUser(ctx, auth.NewUser{Name: name, Role: r, Scopes: sc, Password: pw})
		if err != nil {
			return fmt.Errorf("user create: %w", err)
		}
		fmt.Fprintf(out, "Account %s created (role %s).\n", u.Name, u.Role)
	case "disable", "enable":
		if err := acc.SetDisabled(ctx, posName, sub == "disable"); err != nil {
			return fmt.Errorf("user %s: %w", sub, err)
		}
		fmt.Fprintf(out, "Account %s %sd.\n", posName, sub)
	case "reset-password":
		if err := acc.ResetPassword(ctx, posName, pw); err != nil {
			return fmt.Errorf("user reset-password: %w", err)
		}
		fmt.Fprintf(out, "Password of %s reset; its sessions have ended.\n", posName)
	case "list":
		us, err := acc.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tSCOPES\tDISABLED\tDEMO\tLAST LOGIN")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%s\n", u.Name, u.Role, strings.Join(u.Scopes.Strings(), ","), u.Disabled, u.Demo, when(u.LastLoginAt))
		}
		return tw.Flush()
	default:
		return fmt.Errorf("user: unknown subcommand %q", sub)
	}
	return nil
}
