package notifications

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestTruncateUTF8(t *testing.T) {
	t.Parallel()
	s := "ab出库未揽收" // 2 + 5×3 = 17 bytes
	for max, want := range map[int]string{
		-1: "", 0: "", 1: "a", 2: "ab", 3: "ab", 4: "ab", 5: "ab出", 7: "ab出", 8: "ab出库", 17: s, 100: s,
	} {
		got := TruncateUTF8(s, max)
		if got != want || !utf8.ValidString(got) {
			t.Errorf("TruncateUTF8(%q, %d) = %q, want %q", s, max, got, want)
		}
	}
	long := strings.Repeat("揽", 2000) // 6000 bytes
	for _, max := range []int{4096, 4095, 4094, 100} {
		got := FitUTF8(long, max, "…(已截断)")
		if len(got) > max || !utf8.ValidString(got) || !strings.HasSuffix(got, "…(已截断)") {
			t.Errorf("FitUTF8(6000 bytes, %d) = %d bytes, valid %v", max, len(got), utf8.ValidString(got))
		}
	}
	if got := FitUTF8("短", 10, "…"); got != "短" {
		t.Errorf("FitUTF8 changed a short string: %q", got)
	}
}

func TestThousands(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1234: "1,234", 5000: "5,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestBackoffDoublesUpToFiveMinutes(t *testing.T) {
	t.Parallel()
	d := &Dispatcher{opts: Options{RetryBackoff: 2 * time.Second}}
	var got []time.Duration
	for a := 1; a <= 10; a++ {
		got = append(got, d.backoff(a))
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second,
		64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff = %v, want %v", got, want)
		}
	}
}

func TestSlidingWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	r := &rateState{limit: 20}
	for i := range 20 {
		r.took(t0.Add(time.Duration(i)*time.Second), 1)
	}
	if n := r.used(t0.Add(60 * time.Second)); n != 20 {
		t.Errorf("used at 60s = %d, want 20 (a second of margin)", n)
	}
	if at := r.slotFreeAt(t0.Add(60 * time.Second)); !at.Equal(t0.Add(61 * time.Second)) {
		t.Errorf("next slot at %v, want 61s", at.Sub(t0))
	}
	r.need = 2 // a WeCom message with mobile mentions
	if at := r.slotFreeAt(t0.Add(60 * time.Second)); !at.Equal(t0.Add(62 * time.Second)) {
		t.Errorf("next two slots at %v, want 62s", at.Sub(t0))
	}
	r.need = 0
	if n := r.used(t0.Add(61 * time.Second)); n != 19 {
		t.Errorf("used at 61s = %d, want 19", n)
	}
	if at := r.slotFreeAt(t0.Add(61 * time.Second)); !at.Equal(t0.Add(61*time.Second + minWait)) {
		t.Errorf("with room, next slot at %v, want at once", at.Sub(t0))
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	d := &Dispatcher{opts: Options{Samples: 2, RatePerMinute: 20, RuleTitles: map[string]string{"outbound_not_collected": "出库未揽收"}}}
	at := time.Date(2026, 11, 25, 2, 0, 3, 0, time.UTC)
	g := &group{key: groupKey{rule: "outbound_not_collected", scope: "warehouse:GZ-03"}, kind: "late_ship"}
	for i, order := range []string{"tmall/123", "douyin/9<@all>", "tmall/125"} {
		g.add(Alert{Order: order, Severity: SeverityCritical, Summary: "出库 26 小时\n未揽收", Link: "https://t.example/o/" + order,
			RaisedAt: at.Add(time.Duration(i) * 55 * time.Second)}, 2, at)
	}
	for range 1231 {
		g.add(Alert{Severity: SeverityWarning, RaisedAt: at}, 2, at)
	}
	m := d.renderGroup(g)
	if m.Title != "【严重】出库未揽收 ×1,234 (仓库 GZ-03)" || m.Severity != SeverityCritical || m.MentionAll {
		t.Errorf("message = %+v", m)
	}
	want := "> 共 **1,234** 单 · 仓库 GZ-03 · 规则 outbound_not_collected (late_ship) · 11-25 10:00:03 至 10:01:53\n\n" +
		"- [tmall/123](https://t.example/o/tmall/123) 出库 26 小时 未揽收\n" +
		"- douyin/9＜@all＞ 出库 26 小时 未揽收\n" + // no tag, no mention, and a link with "<>" is dropped
		"- 另有 1,232 单未列出"
	if m.Markdown != want {
		t.Errorf("markdown:\n%s\nwant:\n%s", m.Markdown, want)
	}
}
