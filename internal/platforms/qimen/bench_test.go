package qimen

import (
	"fmt"
	"testing"
)

func BenchmarkVerifyAndParse(b *testing.B) {
	const n = 100
	req := BatchConfirmRequest{Orders: make([]ConfirmOrder, n)}
	for i := range req.Orders {
		req.Orders[i] = ConfirmOrder{
			DeliveryOrder: DeliveryOrder{
				DeliveryOrderCode: fmt.Sprintf("69210000%05d", i), WarehouseCode: "HZ-01", OrderType: "JYCK",
				Status: "DELIVERED", OutBizCode: fmt.Sprintf("OB-%d", i), ConfirmType: "0", OrderConfirmTime: "2026-11-24 19:58:00",
			},
			Packages: []Package{{LogisticsCode: "SF", ExpressCode: fmt.Sprintf("SF%010d", i)}},
		}
	}
	s := testSource(b)
	for _, format := range []string{FormatXML, FormatJSON} {
		b.Run(format, func(b *testing.B) {
			body := mustBody(b, req, format)
			r := NewRequest(Params{Method: "taobao.qimen.deliveryorder.batchconfirm", AppKey: vecAppKey, CustomerID: vecCustomerID, Format: format, Timestamp: vecTime}, body, vecSecret)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			iters := 0
			for b.Loop() {
				if err := s.Verify(r); err != nil {
					b.Fatal(err)
				}
				d, err := s.Parse(r)
				if err != nil {
					b.Fatal(err)
				}
				if len(d.Events) != n {
					b.Fatalf("%d events, flagged %v", len(d.Events), d.Flagged)
				}
				iters++
			}
			b.ReportMetric(float64(iters*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
