package app

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/internal/auth"
)

// TestBrowser drives the real SPA in Debian's headless chromium
// (webapp/e2e, playwright-core) against a real server: the backlog on
// screen moves when a signed webhook arrives, without a reload; people log
// in as their role, see the pages it may use and are refused the others;
// filters narrow figures and exports download; a page whose server goes
// away (a proxy in front of it cut) says it is stale and recovers.
// `make test` installs chromium and the npm packages and sets
// TOWER_BROWSER_TESTS=1.
func TestBrowser(t *testing.T) {
	if os.Getenv("TOWER_BROWSER_TESTS") == "" {
		t.Skip("set TOWER_BROWSER_TESTS=1 (make test does) to run the browser tests")
	}
	webapp, err := filepath.Abs("../../webapp")
	if err != nil {
		t.Fatal(err)
	}
	for _, need := range []string{"node_modules/playwright-core", "dist/index.html"} {
		if _, err := os.Stat(filepath.Join(webapp, need)); err != nil {
			t.Fatalf("webapp/%s missing: run `make webapp` first (%v)", need, err)
		}
	}
	s := startServer(t)
	// One account per role (the warehouse lead limited to HZ-01), logged
	// into through the login page by the tests.
	accounts := map[string]map[string]string{}
	for _, r := range access.Roles {
		name, pw := uniq("e2e-"+r.String()+"-"), "e2e password "+uniq("")
		scopes, _ := access.ParseScopes(scopesFor(r))
		if _, err := s.App.Auth.CreateUser(context.Background(), auth.NewUser{Name: name, Role: r, Scopes: scopes, Password: pw}, "test"); err != nil {
			t.Fatal(err)
		}
		accounts[r.String()] = map[string]string{"name": name, "password": pw}
	}
	rawAccounts, _ := json.Marshal(accounts)
	// The stale-page test reaches the server through a proxy it can cut.
	proxyURL, proxyControl := startCutProxy(t, strings.TrimPrefix(s.URL, "http://"))
	// Generous: on a loaded 2-core box one page test can take half a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	// TOWER_E2E narrows the run to some files (e2e/incidents.test.mjs).
	files := strings.Fields(os.Getenv("TOWER_E2E"))
	if len(files) == 0 {
		files = []string{"e2e/"}
	}
	cmd := exec.CommandContext(ctx, "node", append([]string{"--test", "--test-concurrency=1"}, files...)...)
	cmd.Dir = webapp
	cmd.Env = append(os.Environ(), "TOWER_URL="+s.URL, "TOWER_WEBHOOK_SOURCE=erp", "TOWER_WEBHOOK_SECRET="+s.Secret,
		"TOWER_ACCOUNTS="+string(rawAccounts), "TOWER_PROXY_URL="+proxyURL, "TOWER_PROXY_CONTROL="+proxyControl)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test e2e/:\n%s", out)
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
}
