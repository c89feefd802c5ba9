package tmall

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/platforms/top"
)

func BenchmarkVerifyAndParse(b *testing.B) {
	const n = 100
	msgs := make([]Message, n)
	for i := range msgs {
		content := `{"tid":` + strconv.Itoa(4000000000000000000+i) + `,"oid":1,"buyer_open_uid":"AAHk5d","payment":"129.90","status":"WAIT_SELLER_SEND_GOODS"}`
		msgs[i] = Message{ID: strconv.Itoa(2170000000000000000 + i), Topic: TopicTradeBuyerPay, PubTime: testNow.Add(-time.Minute),
			UserID: "2200000000001", UserNick: "tower旗舰店", Content: json.RawMessage(content)}
	}
	body, q, err := NewRequest(vecAppKey, vecSecret, top.MethodMD5, testNow, msgs...)
	if err != nil {
		b.Fatal(err)
	}
	s := vecSource(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	iters := 0
	for b.Loop() {
		if err := s.VerifyQuery(q, body); err != nil {
			b.Fatal(err)
		}
		d, err := s.ParseBody(body, testNow)
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
