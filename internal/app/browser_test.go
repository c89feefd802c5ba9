package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestBrowser drives the real SPA in Debian's headless chromium
// (webapp/e2e, playwright-core) against a real server: the backlog on screen
// moves when a signed webhook arrives, without a reload. `make test` installs
// chromium and the npm packages and sets TOWER_BROWSER_TESTS=1.
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-concurrency=1", "e2e/")
	cmd.Dir = webapp
	cmd.Env = append(os.Environ(), "TOWER_URL="+s.URL, "TOWER_WEBHOOK_SOURCE=erp", "TOWER_WEBHOOK_SECRET="+s.Secret)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test e2e/:\n%s", out)
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
}
