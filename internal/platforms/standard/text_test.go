package standard

import (
	"errors"
	"testing"

	"github.com/towerhq/tower/domain/order"
)

func TestTextProblem(t *testing.T) {
	tests := []struct {
		name, body, path string
	}{
		{"storable", `{"id":"a","order":{"orderNo":"N1","note":"\u00e9 \ufffd 中文"}}`, ""},
		{"NUL in a value", `{"id":"a","order":{"channel":"web","orderNo":"N\u0000L"}}`, "order.orderNo"},
		{"escaped backslash is no NUL", `{"id":"a","note":"\\u0000"}`, ""},
		{"bad UTF-8 deep in a batch", "{\"events\":[{\"id\":\"a\"},{\"id\":\"b\",\"data\":{\"receiver\":{\"name\":\"\xff\xfe\"}}}]}", "events[1].data.receiver.name"},
		{"NUL in a key", `{"id":"a","data":{"k\u0000":"v"}}`, "data.k\x00"},
		{"after arrays and numbers", `{"events":[{"id":"a","data":{"items":[{"qty":2,"sku":"S"}],"amount":"1"}},{"id":"b","type":"x\u0000"}]}`, "events[1].type"},
		{"top-level string", `"\u0000"`, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, reason := textProblem([]byte(tt.body))
			if path != tt.path {
				t.Errorf("path %q (%s), want %q", path, reason, tt.path)
			}
		})
	}
}

// TestParseRefusesUnstorableText: the standard type answers 400 naming the
// field rather than storing altered text.
func TestParseRefusesUnstorableText(t *testing.T) {
	s := testSource(t, 0)
	_, err := s.ParseBody([]byte(`{"events":[{"id":"a","type":"order.paid","occurredAt":"2026-12-01T08:00:00Z","order":{"channel":"web","orderNo":"N1"}},` +
		`{"id":"b","type":"order.paid","occurredAt":"2026-12-01T08:00:00Z","order":{"channel":"web","orderNo":"N\u00002"}}]}`))
	fe, ok := errors.AsType[*order.FieldError](err)
	if !ok || fe.Field != "events[1].order.orderNo" {
		t.Fatalf("err %v, want a field error naming events[1].order.orderNo", err)
	}
}
