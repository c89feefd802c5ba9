package douyin

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/towerhq/tower/internal/platforms"
)

func BenchmarkVerifyAndParse(b *testing.B) {
	const n = 100
	msgs := make([]Message, n)
	for i := range msgs {
		data := `{"biz":2,"order_status":2,"order_type":0,"p_id":` + strconv.Itoa(6921000000000+i) +
			`,"pay_amount":12990,"pay_time":1764000000,"pay_type":1,"s_ids":[6921000000002],"shop_id":1000}`
		msgs[i] = Message{Tag: "101", MsgID: strconv.Itoa(7300000000000000000 + i), Data: json.RawMessage(data)}
	}
	body, h, err := NewRequest(vecAppKey, vecSecret, msgs...)
	if err != nil {
		b.Fatal(err)
	}
	s := vecSource(b)
	req := &platforms.Request{Header: h, Body: body, ReceivedAt: testNow}
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
