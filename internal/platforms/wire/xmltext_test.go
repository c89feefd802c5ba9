package wire

import (
	"encoding/xml"
	"testing"
	"unicode/utf8"
)

func TestXMLText(t *testing.T) {
	tests := []struct {
		name, in, want string
		changed        bool
	}{
		{"clean", "<a>仓库 W1\t\n</a>", "<a>仓库 W1\t\n</a>", false},
		{"NUL", "<a>W\x001</a>", "<a>W\uFFFD1</a>", true},
		{"not UTF-8", "<a>\xff\xfeW</a>", "<a>\uFFFD\uFFFDW</a>", true},
		{"cut rune", "<a>名\xe5\xad</a>", "<a>名\uFFFD\uFFFD</a>", true},
		{"U+FFFE", "<a>\uFFFE</a>", "<a>\uFFFD</a>", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := XMLText([]byte(tt.in))
			if string(got) != tt.want || changed != tt.changed {
				t.Errorf("XMLText(%q) = %q, %v; want %q, %v", tt.in, got, changed, tt.want, tt.changed)
			}
		})
	}
}

// FuzzXMLText: whatever the bytes, the result is UTF-8 that encoding/xml
// does not refuse for its characters, and a clean body is unchanged.
func FuzzXMLText(f *testing.F) {
	for _, s := range []string{"<a>x</a>", "<a>\x00</a>", "<a>\xff</a>", "<a>\uFFFF</a>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, changed := XMLText(in)
		if !utf8.Valid(out) {
			t.Fatalf("%q → %q is not UTF-8", in, out)
		}
		if !changed && string(out) != string(in) {
			t.Fatalf("unchanged yet %q → %q", in, out)
		}
		again, changed2 := XMLText(out)
		if changed2 || string(again) != string(out) {
			t.Fatalf("not idempotent: %q → %q", out, again)
		}
		// Wrapped in an element, the text decodes (no character errors).
		var v struct {
			XMLName xml.Name `xml:"a"`
			Text    string   `xml:",chardata"`
		}
		doc := []byte("<a>")
		for _, r := range string(out) {
			switch r {
			case '<', '&', '>':
				continue
			}
			doc = utf8.AppendRune(doc, r)
		}
		doc = append(doc, "</a>"...)
		if err := xml.Unmarshal(doc, &v); err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
	})
}
