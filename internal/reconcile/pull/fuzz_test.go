package pull

import (
	"errors"
	"testing"
)

// checkSnaps holds for any page a decoder accepts: every order is keyed
// and dated, every fact has a known kind and a time, amounts are not
// negative.
func checkSnaps(t *testing.T, channel string, snaps []Snapshot) {
	t.Helper()
	for _, s := range snaps {
		if s.Key.Channel != channel || s.Key.OrderNo == "" || s.UpdatedAt.IsZero() {
			t.Fatalf("bad snapshot %+v", s)
		}
		for _, f := range s.Facts {
			if !f.Kind.Valid() || f.At.IsZero() {
				t.Fatalf("bad fact %+v", f)
			}
			if f.Data.Amount != nil && *f.Data.Amount < 0 {
				t.Fatalf("negative amount %+v", f)
			}
		}
	}
}

// checkErr: a refusal must be an *APIError with a code; anything else is a
// decoding error.
func checkErr(t *testing.T, err error) {
	t.Helper()
	var ae *APIError
	if errors.As(err, &ae) && ae.Error() == "" {
		t.Fatal("empty APIError")
	}
}

func FuzzDecodeDouyin(f *testing.F) {
	for _, s := range []string{
		`{"code":10000,"msg":"success","log_id":"x","data":{"shop_order_list":[{"order_id":"6921000000000000001","order_status":4,"create_time":1764000000,"pay_time":1764000100,"update_time":1764000200,"pay_amount":12990,"order_amount":12990,"cancel_reason":"refund","shop_id":1000}],"total":1,"page":0,"size":100}}`,
		`{"code":10000,"data":{"shop_order_list":[{"order_id":6921000000000000001,"update_time":1}],"total":1}}`,
		`{"code":40003,"msg":"invalid signature","sub_code":"isv.invalid-signature","sub_msg":"签名错误"}`,
		`{"code":"10000","data":{"shop_order_list":null}}`,
		`{"code":10000,"data":{"shop_order_list":[{"order_id":"1","update_time":1,"pay_amount":-1}]}}`,
		`[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodeDouyinPage(body)
		if err != nil {
			checkErr(t, err)
			return
		}
		checkSnaps(t, "douyin", p.snaps)
	})
}

func FuzzDecodeTmall(f *testing.F) {
	for _, s := range []string{
		`{"trades_sold_increment_get_response":{"has_next":true,"trades":{"trade":[{"tid":4000000000000000123,"status":"TRADE_CLOSED_BY_TAOBAO","payment":"129.90","created":"2026-11-11 21:00:03","pay_time":"","modified":"2026-11-11 21:10:00","end_time":"2026-11-11 21:09:59"}]}}}`,
		`{"trades_sold_increment_get_response":{"has_next":false}}`,
		`{"trades_sold_increment_get_response":{"trades":{"trade":[{"tid":"1","modified":"2026-11-11 21:10:00","pay_time":"2026-11-11 21:10:00","payment":"-1"}]}}}`,
		`{"error_response":{"code":25,"msg":"Invalid signature"}}`,
		`{"error_response":{"code":"isp.x","msg":"x","sub_code":"y","sub_msg":"z"}}`,
		`{}`, `null`, `{"trades_sold_increment_get_response":null}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodeTmallPage(body)
		if err != nil {
			checkErr(t, err)
			return
		}
		checkSnaps(t, "tmall", p.snaps)
	})
}

func FuzzDecodeMiniProgram(f *testing.F) {
	for _, s := range []string{
		`{"orders":[{"orderNo":"MP1","status":"refunded","createdAt":"2026-11-11T21:00:00+08:00","paidAt":"2026-11-11T21:01:00+08:00","cancelledAt":null,"refundedAt":"2026-11-11T22:00:00+08:00","amount":"129.90","updatedAt":"2026-11-11T22:00:00+08:00"}],"nextCursor":"abc"}`,
		`{"orders":[],"nextCursor":null}`,
		`{"orders":[{"orderNo":"MP2","amount":12,"updatedAt":"2026-11-11T22:00:00Z"}]}`,
		`{"orders":[{"orderNo":"MP3","amount":"-1","updatedAt":"2026-11-11T22:00:00Z"}]}`,
		`{"orders":[{"orderNo":"","updatedAt":"0001-01-01T00:00:00Z"}]}`,
		`{}`, `null`, `{"orders":null}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodeMiniProgramPage(body)
		if err != nil {
			checkErr(t, err)
			return
		}
		checkSnaps(t, "miniprogram", p.snaps)
	})
}
