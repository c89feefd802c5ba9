package kuaidi100

import (
	"fmt"
	"testing"
	"time"
)

func BenchmarkVerifyAndParse(b *testing.B) {
	// A typical push: the whole track of a delivered parcel, 20 steps.
	p := Push{Status: "polling", LastResult: &LastResult{Message: "ok", State: "3", Status: "200", IsCheck: "1", Com: "shunfeng", Nu: "SF1234567890"}}
	at := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	for i := range 20 {
		ts := FormatTime(at.Add(-time.Duration(i) * time.Hour))
		p.LastResult.Data = append(p.LastResult.Data, Track{Time: ts, FTime: ts, Context: fmt.Sprintf("【杭州市】快件已到达第 %d 站", 20-i), AreaName: "浙江,杭州市"})
	}
	r := NewRequest(EncodeParam(p), vecSalt, recvAt)
	s := testSource(b)
	b.SetBytes(int64(len(r.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Verify(r); err != nil {
			b.Fatal(err)
		}
		d, err := s.Parse(r)
		if err != nil || len(d.Events) != 1 {
			b.Fatal(err, d)
		}
	}
}
