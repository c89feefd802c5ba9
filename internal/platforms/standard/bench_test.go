package standard

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/towerhq/tower/internal/platforms"
)

func BenchmarkVerifyAndParse(b *testing.B) {
	const n = 100
	evs := make([]map[string]any, n)
	for i := range evs {
		evs[i] = validEvent(i)
	}
	body := batchBody(evs...)
	// Two secrets, the match being the second, as during a rotation.
	secrets := []string{newSecret(b), vecSecret}
	s := mustNew(b, Config{Name: "erp", Secrets: secrets}, clockAt(vecTS))
	h := http.Header{}
	h.Set(HeaderID, "msg_bench")
	h.Set(HeaderTimestamp, strconv.FormatInt(vecTS, 10))
	h.Set(HeaderSignature, mustSign(b, vecSecret, "msg_bench", vecTS, body))
	req := &platforms.Request{Header: h, Body: body}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	iters := 0
	for b.Loop() {
		if err := s.Verify(req); err != nil {
			b.Fatal(err)
		}
		d, err := s.Parse(req)
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Events) != n {
			b.Fatalf("%d events", len(d.Events))
		}
		iters++
	}
	b.ReportMetric(float64(iters*n)/b.Elapsed().Seconds(), "events/s")
}
