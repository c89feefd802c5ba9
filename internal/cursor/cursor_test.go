package cursor

import (
	"errors"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 4, 8, 0, 0, 123456000, time.UTC)
	gotAt, gotID, err := Decode(Encode(at, 42))
	if err != nil || !gotAt.Equal(at) || gotID != 42 {
		t.Fatalf("Decode(Encode) = %v %d %v", gotAt, gotID, err)
	}
	for _, bad := range []string{"", "!!", "bm9jb2xvbg", "YTpi"} {
		if _, _, err := Decode(bad); !errors.Is(err, ErrBad) {
			t.Errorf("Decode(%q) = %v, want ErrBad", bad, err)
		}
	}
}
