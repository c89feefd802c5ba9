package top

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The reference's computed vector (platforms.md §2).
const vecSecret = "helloworld"

func vecParams(method string) map[string]string {
	return map[string]string{
		"method":      "taobao.trade.fullinfo.get",
		"app_key":     "12345678",
		"session":     "test",
		"timestamp":   "2026-01-01 12:00:00",
		"format":      "json",
		"v":           "2.0",
		"sign_method": method,
		"fields":      "tid,status,payment",
		"tid":         "1234567890",
	}
}

const vecString = "app_key12345678fieldstid,status,paymentformatjsonmethodtaobao.trade.fullinfo.getsessiontestsign_method%stid1234567890timestamp2026-01-01 12:00:00v2.0"

func TestReferenceVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, want string
	}{
		{MethodMD5, "CF54D34B2B9F06C8A1889B6F6D0219BF"},
		{MethodHMAC, "EBF8AD04C2291737E087801CA5026A74"},
		{MethodHMACSHA256, "E5BD71262767F73ADC134BBBB0CCB58F5DC05ACDC0E14E8B0F3E9B2DF2B7BDEE"},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			p := vecParams(tt.method)
			if got, want := SignString(p, nil), fmt.Sprintf(vecString, tt.method); got != want {
				t.Fatalf("SignString\n got %s\nwant %s", got, want)
			}
			got, err := Sign(p, nil, vecSecret, tt.method)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Sign = %s, want %s", got, tt.want)
			}
			if err := Verify(p, nil, vecSecret, tt.method, tt.want); err != nil {
				t.Fatalf("Verify upper: %v", err)
			}
			if err := Verify(p, nil, vecSecret, tt.method, strings.ToLower(tt.want)); err != nil {
				t.Fatalf("Verify lower: %v", err)
			}
			// A sign parameter present in the map is ignored.
			p[ParamSign] = tt.want
			if again, _ := Sign(p, nil, vecSecret, tt.method); again != tt.want {
				t.Fatalf("sign param not ignored: %s", again)
			}
		})
	}
}

// TestIndependentVectors recomputes signatures over a literal string with
// the hash packages directly, including a body (the Qimen case) and the
// empty parameters the rule skips.
func TestIndependentVectors(t *testing.T) {
	t.Parallel()
	params := map[string]string{
		"b": "2", "a": "1", "c": "x y+z/ü", "empty": "", "": "no key", "sign": "IGNORED",
	}
	body := []byte(`{"id":1,"topic":"taobao_trade_TradeCreate"}`)
	const str = `a1b2cx y+z/ü{"id":1,"topic":"taobao_trade_TradeCreate"}`
	const secret = "s3cr3t"
	if got := SignString(params, body); got != str {
		t.Fatalf("SignString = %q", got)
	}
	mac := func(h func() hash.Hash) string {
		m := hmac.New(h, []byte(secret))
		m.Write([]byte(str))
		return fmt.Sprintf("%X", m.Sum(nil))
	}
	tests := []struct{ method, want string }{
		{MethodMD5, fmt.Sprintf("%X", md5.Sum([]byte(secret+str+secret)))},
		{MethodHMAC, mac(md5.New)},
		{MethodHMACSHA256, mac(sha256.New)},
	}
	for _, tt := range tests {
		got, err := Sign(params, body, secret, tt.method)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s: Sign = %s, want %s", tt.method, got, tt.want)
		}
		if err := Verify(params, body, secret, tt.method, got); err != nil {
			t.Errorf("%s: Verify: %v", tt.method, err)
		}
	}
	// Bytes sort: uppercase keys before lowercase, "a" before "a_b".
	got := SignString(map[string]string{"a_b": "2", "B": "1", "a": "3"}, nil)
	if got != "B1a3a_b2" {
		t.Errorf("byte order: %q", got)
	}
}

func TestVerifyFailures(t *testing.T) {
	t.Parallel()
	p := vecParams(MethodMD5)
	good := "CF54D34B2B9F06C8A1889B6F6D0219BF"
	tampered := vecParams(MethodMD5)
	tampered["tid"] = "1234567891"
	tests := []struct {
		name   string
		params map[string]string
		body   []byte
		secret string
		method string
		sign   string
		want   error
	}{
		{"wrong secret", p, nil, "helloworld2", MethodMD5, good, ErrBadSignature},
		{"tampered param", tampered, nil, vecSecret, MethodMD5, good, ErrBadSignature},
		{"body appended", p, []byte("x"), vecSecret, MethodMD5, good, ErrBadSignature},
		{"other method's signature", p, nil, vecSecret, MethodHMAC, good, ErrBadSignature},
		{"empty sign", p, nil, vecSecret, MethodMD5, "", ErrBadSignature},
		{"truncated sign", p, nil, vecSecret, MethodMD5, good[:30], ErrBadSignature},
		{"sign with spaces", p, nil, vecSecret, MethodMD5, " " + good, ErrBadSignature},
		{"unknown method", p, nil, vecSecret, "sha1", good, ErrUnsupportedMethod},
		{"uppercase method", p, nil, vecSecret, "MD5", good, ErrUnsupportedMethod},
		{"empty method", p, nil, vecSecret, "", good, ErrUnsupportedMethod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.params, tt.body, tt.secret, tt.method, tt.sign)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), tt.secret) {
				t.Fatalf("error %q leaks the secret", err)
			}
		})
	}
	if _, err := Sign(p, nil, vecSecret, "rsa"); !errors.Is(err, ErrUnsupportedMethod) {
		t.Fatalf("Sign unknown method: %v", err)
	}
}

func TestParams(t *testing.T) {
	t.Parallel()
	q, _ := url.ParseQuery("app_key=1&timestamp=2026-01-01+12%3A00%3A00&sign=AB&empty=")
	p, err := Params(q)
	if err != nil {
		t.Fatal(err)
	}
	if p["timestamp"] != "2026-01-01 12:00:00" || p["app_key"] != "1" || p["sign"] != "AB" || p["empty"] != "" {
		t.Fatalf("Params = %v", p)
	}
	q, _ = url.ParseQuery("app_key=1&sign=A&sign=B")
	if _, err := Params(q); !errors.Is(err, ErrRepeatedParam) || !strings.Contains(err.Error(), `"sign"`) {
		t.Fatalf("repeated: %v", err)
	}
}

func TestTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC)
	for _, s := range []string{"2026-01-01 12:00:00", "2026-01-01 12:00:00.000"} {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "2026-01-01T12:00:00", "2026-01-01 12:00", "2026/01/01 12:00:00", "2026-01-01 12:00:00+08:00"} {
		if _, err := ParseTime(s); err == nil {
			t.Errorf("ParseTime(%q) succeeded", s)
		}
	}
	if got := FormatTime(want); got != "2026-01-01 12:00:00" {
		t.Errorf("FormatTime = %q", got)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("app_key=12345678&timestamp=2026-01-01+12:00:00&sign_method=md5", []byte(`{"id":1}`), "helloworld", MethodMD5)
	f.Add("a=1&b=&=c", []byte(nil), "", MethodHMAC)
	f.Add("sign=X&x=%FF", []byte("<request/>"), "k", MethodHMACSHA256)
	f.Add("", []byte(""), "s", "sha1")
	f.Fuzz(func(t *testing.T, query string, body []byte, secret, method string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		p, err := Params(q)
		if err != nil {
			if !errors.Is(err, ErrRepeatedParam) {
				t.Fatalf("Params: %v", err)
			}
			return
		}
		sig, err := Sign(p, body, secret, method)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedMethod) {
				t.Fatalf("Sign: %v", err)
			}
			if Verify(p, body, secret, method, "00") == nil {
				t.Fatal("Verify succeeded for an unsupported method")
			}
			return
		}
		if sig != strings.ToUpper(sig) || (len(sig) != 32 && len(sig) != 64) {
			t.Fatalf("signature %q", sig)
		}
		if err := Verify(p, body, secret, method, sig); err != nil {
			t.Fatalf("Verify own signature: %v", err)
		}
		if err := Verify(p, append(body, 'x'), secret, method, sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Verify with changed body: %v", err)
		}
	})
}
