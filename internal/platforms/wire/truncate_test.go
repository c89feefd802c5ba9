package wire_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/towerhq/tower/internal/platforms/wire"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exact", 5, "exact"},
		{"abcdefghij", 8, "abcde…"},
		{"", 0, ""},
		{"abc", 0, ""},
		{"abc", -1, ""},
		{"abcdefgh", 5, "abcde"}, // no room for the mark
		// 签 and 名 are 3 bytes each: 7 bytes leave 4 for text, one rune.
		{"签名错误", 7, "签…"},
		{"签名错误", 9, "签名…"},
		{"签名错误", 5, "签"},
		{"签名错误", 2, ""},
		{"a😀b", 4, "a"}, // the emoji is 4 bytes
	} {
		if got := wire.Truncate(tc.s, tc.n); got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// Every cut of valid UTF-8 stays valid, within n bytes, on a prefix.
func TestTruncateNeverSplitsARune(t *testing.T) {
	s := strings.Repeat("订单a😀é", 20)
	for n := 0; n <= len(s)+1; n++ {
		checkTruncate(t, s, n)
	}
}

func FuzzTruncate(f *testing.F) {
	for _, s := range []string{"", "abc", "签名错误", "a😀b", "\xff\xfe", "é\x80\x80\x80\x80x"} {
		f.Add(s, 3)
		f.Add(s, 7)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		checkTruncate(t, s, n)
	})
}

func checkTruncate(t *testing.T, s string, n int) {
	t.Helper()
	got := wire.Truncate(s, n)
	if len(got) > max(n, 0) && got != s {
		t.Fatalf("Truncate(%q, %d) = %q: %d bytes", s, n, got, len(got))
	}
	if len(s) <= n && got != s {
		t.Fatalf("Truncate(%q, %d) = %q: cut what fits", s, n, got)
	}
	kept := strings.TrimSuffix(got, wire.Mark)
	if !strings.HasPrefix(s, kept) {
		t.Fatalf("Truncate(%q, %d) = %q: not a prefix", s, n, got)
	}
	if utf8.ValidString(s) && !utf8.ValidString(got) {
		t.Fatalf("Truncate(%q, %d) = %q: split a rune", s, n, got)
	}
}
