package wechatpay

import (
	"testing"
)

func BenchmarkVerifyAndParse(b *testing.B) {
	s := testSource(b)
	req := notification(b, Notification{Resource: paidTx(), Timestamp: testNow})
	b.SetBytes(int64(len(req.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Verify(req); err != nil {
			b.Fatal(err)
		}
		d, err := s.Parse(req)
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Events) != 1 {
			b.Fatalf("%d events", len(d.Events))
		}
	}
}
