package kuaidi100

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
)

func FuzzParseParam(f *testing.F) {
	f.Add(readTestdata(f, "param.json"))
	f.Add(readTestdata(f, "signed.json"))
	f.Add([]byte(`{"status":"abort","message":"60天无变化"}`))
	f.Add([]byte(`{"status":"shutdown","lastResult":{"state":3,"nu":"X","data":[]}}`))
	f.Add([]byte(`{"lastResult":{"state":"501","nu":" N ","com":null,"data":[{"time":"2026-11-26 09:12:00"},{}]}}`))
	f.Add([]byte(`{"lastResult":{"state":"14","nu":"N","data":[{"ftime":"2026-02-29 00:00:00","context":"拒签"}]}}`))
	f.Add([]byte(`{"lastResult":{"state":["1"]}}`))
	f.Add([]byte(`[]`))
	s := testSource(f)
	f.Fuzz(func(t *testing.T, param []byte) {
		d, err := s.ParseParam(param, recvAt)
		if err != nil {
			if d != nil || !errors.Is(err, platforms.ErrMalformed) {
				t.Fatalf("delivery %v, error %q (want only ErrMalformed)", d, err)
			}
			return
		}
		if len(d.Events) > 1 || d.ID != "" {
			t.Fatalf("%d events, ID %q", len(d.Events), d.ID)
		}
		if len(d.Events) == 0 && len(d.Flagged) == 0 {
			t.Fatal("neither event nor flag: the push was dropped")
		}
		for _, e := range d.Events {
			if err := e.ValidateRef(); err != nil {
				t.Fatalf("invalid event: %v", err)
			}
			if e.Source != "kd100" || e.System != order.SystemCourier || e.Order != (order.Key{}) || e.Data.TrackingNo == "" || e.Kind.DefaultSystem() != order.SystemCourier {
				t.Fatalf("event %s", mustJSON(e))
			}
			// What parsed is stable: the event written back as a push
			// parses to the same event.
			state := strings.Split(e.ID, "|")
			again, err := s.ParseParam([]byte(EncodeParam(Push{Status: "polling", LastResult: &LastResult{
				State: state[len(state)-1], Com: e.Data.Courier, Nu: e.Data.TrackingNo,
				Data: []Track{{Time: FormatTime(e.OccurredAt), Context: e.Data.Reason}},
			}})), recvAt)
			if err != nil || len(again.Events) != 1 {
				t.Fatalf("re-parse: %v %+v", err, again)
			}
			a := again.Events[0]
			a.ID = e.ID
			if !sameEvent(e, a) {
				t.Fatalf("round trip changed the event\nfirst %s\nagain %s", mustJSON(e), mustJSON(a))
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	f.Add(FormBody(string(readTestdata(f, "param.json")), vecSalt))
	f.Add([]byte("param=x&sign=y"))
	f.Add([]byte("%%"))
	s := testSource(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		err := s.Verify(&platforms.Request{Body: body})
		if err != nil {
			if !errors.Is(err, platforms.ErrUnauthorized) {
				t.Fatalf("error %q does not wrap ErrUnauthorized", err)
			}
			return
		}
		v, _ := url.ParseQuery(string(body))
		if Sign(v.Get("param"), vecSalt) != strings.ToUpper(v.Get("sign")) {
			t.Fatalf("accepted a push not signed with the salt: %q", body)
		}
	})
}
