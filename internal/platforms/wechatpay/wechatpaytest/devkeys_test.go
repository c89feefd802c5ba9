package wechatpaytest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The dev key pair's folder is private, but the folders above it (the
// project's .data, where the local PostgreSQL lives) stay traversable.
func TestEnsureDevKeysKeepsParentsTraversable(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	root := t.TempDir()
	pub := filepath.Join(root, ".data", "dev", "wechatpay_platform_public.pem")
	priv, err := EnsureDevKeys(pub)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		filepath.Join(root, ".data"):        0o755,
		filepath.Join(root, ".data", "dev"): 0o700,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
	for _, f := range []string{pub, priv} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("key file: %v", err)
		}
	}
}
