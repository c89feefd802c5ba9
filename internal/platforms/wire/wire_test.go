package wire_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/towerhq/tower/internal/platforms/wire"
)

func TestID(t *testing.T) {
	for _, tc := range []struct {
		raw, want, err string
	}{
		{``, "", ""},
		{`null`, "", ""},
		{`"6921000000000000001"`, "6921000000000000001", ""},
		{`6921000000000000001`, "6921000000000000001", ""}, // beyond float64
		{`"A-1"`, "A-1", ""},
		{`1.5`, "", "want an integer or a string"},
		{`-1`, "", "want an integer or a string"},
		{`{}`, "", "want an integer or a string"},
		{`"` + strings.Repeat("x", 65) + `"`, "", "longer than 64"},
		{strings.Repeat("9", 65), "", "longer than 64"},
	} {
		got, err := wire.ID(json.RawMessage(tc.raw))
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ID(%s) = %q, %v; want %q, %q", tc.raw, got, err, tc.want, tc.err)
		}
	}
}

func TestIDString(t *testing.T) {
	var v struct {
		A, B, C wire.IDString
	}
	if err := json.Unmarshal([]byte(`{"A":4000000000000000123,"B":"MP-1","C":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != "4000000000000000123" || v.B != "MP-1" || v.C != "" {
		t.Errorf("got %+v", v)
	}
	for _, bad := range []string{`{"A":1.5}`, `{"A":true}`, `{"A":[1]}`} {
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestText(t *testing.T) {
	var v struct{ A, B, C, D wire.Text }
	if err := json.Unmarshal([]byte(`{"A":" x ","B":5,"C":false,"D":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A.String() != "x" || v.B != "5" || v.C != "false" || v.D != "" {
		t.Errorf("got %+v", v)
	}
	if err := json.Unmarshal([]byte(`{"A":{}}`), &v); err == nil || !strings.Contains(err.Error(), "object") {
		t.Errorf("object accepted: %v", err)
	}
}

func TestStr(t *testing.T) {
	if s, err := wire.Str(json.RawMessage(`"a\u00e9"`)); s != "aé" || err != nil {
		t.Errorf("Str = %q, %v", s, err)
	}
	if s, err := wire.Str(nil); s != "" || err != nil {
		t.Errorf("Str(absent) = %q, %v", s, err)
	}
	if _, err := wire.Str(json.RawMessage(`12`)); err == nil {
		t.Error("a number read as a string")
	}
}
