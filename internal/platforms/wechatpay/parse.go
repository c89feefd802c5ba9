package wechatpay

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// Event types of the notifications Tower maps or flags.
const (
	EventTransactionSuccess = "TRANSACTION.SUCCESS"
	EventRefundSuccess      = "REFUND.SUCCESS"
	// Refund event names beyond REFUND.SUCCESS are uncertain in the
	// reference; they are flagged, never mapped.
	EventRefundAbnormal = "REFUND.ABNORMAL"
	EventRefundClosed   = "REFUND.CLOSED"
)

// Envelope constants.
const (
	ResourceTypeEncrypted = "encrypt-resource"
	AlgorithmAES256GCM    = "AEAD_AES_256_GCM"
	// NonceLen is the length of resource.nonce, the AES-GCM nonce.
	NonceLen = 12
)

// DefaultCurrency is assumed when a resource's amount names none.
const DefaultCurrency = "CNY"

// ErrDecrypt is wrapped (with platforms.ErrMalformed) when the resource
// cannot be decrypted: wrong APIv3 key, tampered ciphertext, nonce or
// associated data.
var ErrDecrypt = errors.New("cannot decrypt resource")

// ErrMchIDMismatch is wrapped (with platforms.ErrMalformed) when a
// decrypted resource is for another merchant than the configured one.
var ErrMchIDMismatch = errors.New("mchid mismatch")

// Envelope is a notification body as WeChat Pay sends it.
type Envelope struct {
	ID           string   `json:"id"`
	CreateTime   string   `json:"create_time,omitempty"`
	ResourceType string   `json:"resource_type,omitempty"`
	EventType    string   `json:"event_type"`
	Summary      string   `json:"summary,omitempty"`
	Resource     Resource `json:"resource"`
}

// Resource is a notification's encrypted payload.
type Resource struct {
	OriginalType   string `json:"original_type,omitempty"`
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
}

// Parse turns a verified request into canonical events; see ParseBody.
func (s *Source) Parse(r *platforms.Request) (*platforms.Delivery, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: no request", platforms.ErrMalformed)
	}
	return s.ParseBody(r.Body)
}

// ParseBody reads a notification body: the envelope, its resource
// decrypted with the APIv3 key, mapped to one canonical event or one flag.
// Delivery.ID is the notification id, which is also the event id and the
// flag's ItemID.
//
//	TRANSACTION.SUCCESS, trade_state SUCCESS        -> order.paid
//	TRANSACTION.SUCCESS, any other trade_state      -> flagged
//	REFUND.SUCCESS (refund_status SUCCESS or absent) -> refund.completed
//	REFUND.ABNORMAL, REFUND.CLOSED, other event type -> flagged
//
// A field of the decrypted resource that is missing or wrong flags the
// notification. Errors, which wrap platforms.ErrMalformed, are for a body
// that is not a notification envelope, a resource that cannot be decrypted
// (ErrDecrypt) or is not a JSON object, and a resource for another merchant
// (ErrMchIDMismatch). Where one field is at fault the chain holds an
// *order.FieldError naming it.
func (s *Source) ParseBody(body []byte) (*platforms.Delivery, error) {
	env, err := parseEnvelope(body)
	if err != nil {
		return nil, err
	}
	if env.Resource.Algorithm != AlgorithmAES256GCM {
		return nil, malformed(wire.FieldErr("resource.algorithm", fmt.Sprintf("%q not supported, want %q", wire.Truncate(env.Resource.Algorithm, 64), AlgorithmAES256GCM)))
	}
	plain, err := s.decrypt(&env.Resource)
	if err != nil {
		return nil, err
	}
	var w wireResource
	if t := bytes.TrimLeft(plain, " \t\r\n"); len(t) == 0 || t[0] != '{' || json.Unmarshal(plain, &w) != nil {
		return nil, malformed(wire.FieldErr("resource", "decrypted resource is not a JSON object"))
	}
	if err := s.checkMchID(env.EventType, w.MchID); err != nil {
		return nil, err
	}
	d := &platforms.Delivery{ID: env.ID}
	e, reason := s.mapResource(env, &w)
	if reason != "" {
		d.Flagged = []platforms.Flag{{ItemID: env.ID, Reason: reason}}
	} else {
		d.Events = []order.Event{e}
	}
	return d, nil
}

// parseEnvelope decodes and checks the envelope; its errors wrap
// platforms.ErrMalformed.
func parseEnvelope(body []byte) (*Envelope, error) {
	t := bytes.TrimLeft(body, " \t\r\n")
	if len(t) == 0 {
		return nil, fmt.Errorf("%w: empty body", platforms.ErrMalformed)
	}
	if t[0] != '{' {
		return nil, fmt.Errorf("%w: body: want a JSON object", platforms.ErrMalformed)
	}
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, fmt.Errorf("%w: invalid JSON at byte %d: %s", platforms.ErrMalformed, se.Offset, se)
		}
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			return nil, malformed(wire.FieldErr(te.Field, jsonWant(te.Type.Kind().String())))
		}
		return nil, fmt.Errorf("%w: body: want a notification envelope", platforms.ErrMalformed)
	}
	switch {
	case env.ID == "":
		return nil, malformed(wire.FieldErr("id", "required"))
	case len(env.ID) > 128:
		return nil, malformed(wire.FieldErr("id", "longer than 128 characters"))
	case env.EventType == "":
		return nil, malformed(wire.FieldErr("event_type", "required"))
	case env.ResourceType != "" && env.ResourceType != ResourceTypeEncrypted:
		return nil, malformed(wire.FieldErr("resource_type", fmt.Sprintf("%q not supported, want %q", wire.Truncate(env.ResourceType, 64), ResourceTypeEncrypted)))
	case env.Resource.Ciphertext == "":
		return nil, malformed(wire.FieldErr("resource.ciphertext", "required"))
	}
	return &env, nil
}

// jsonWant says what JSON an envelope field of a Go kind wants.
func jsonWant(goKind string) string {
	switch goKind {
	case "string":
		return "want a string"
	case "struct", "map":
		return "want an object"
	}
	return "want a " + goKind
}

// decrypt opens the resource with the source's APIv3 key.
func (s *Source) decrypt(r *Resource) ([]byte, error) {
	if len(r.Nonce) != s.aead.NonceSize() {
		return nil, malformed(wire.FieldErr("resource.nonce", fmt.Sprintf("%d bytes, want %d", len(r.Nonce), s.aead.NonceSize())))
	}
	ct, err := base64.StdEncoding.DecodeString(r.Ciphertext)
	if err != nil {
		return nil, malformed(wire.FieldErr("resource.ciphertext", "not valid standard base64"))
	}
	plain, err := s.aead.Open(nil, []byte(r.Nonce), ct, []byte(r.AssociatedData))
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %w", platforms.ErrMalformed, ErrDecrypt,
			wire.FieldErr("resource.ciphertext", "authentication failed (wrong APIv3 key, or tampered ciphertext, nonce or associated_data)"))
	}
	return plain, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// openGCM decrypts ct (ciphertext‖16-byte tag) with AES-GCM; a nonce of the
// wrong size is an error, never a panic.
func openGCM(key, nonce, aad, ct []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("nonce is %d bytes, want %d", len(nonce), aead.NonceSize())
	}
	return aead.Open(nil, nonce, ct, aad)
}

// DecryptResource decrypts a resource's base64 ciphertext (ciphertext‖tag)
// with AES-256-GCM, the APIv3 key's bytes as the key, nonce and
// associatedData as they are.
func DecryptResource(apiv3Key, nonce, associatedData, ciphertextB64 string) ([]byte, error) {
	if err := checkAPIv3Key(apiv3Key); err != nil {
		return nil, fmt.Errorf("wechatpay: APIv3 key: %w", err)
	}
	ct, err := base64.StdEncoding.DecodeString(ciphertextB64)
	if err != nil {
		return nil, errors.New("wechatpay: ciphertext is not valid standard base64")
	}
	plain, err := openGCM([]byte(apiv3Key), []byte(nonce), []byte(associatedData), ct)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: %w: %w", ErrDecrypt, err)
	}
	return plain, nil
}

// EncryptResource encrypts plaintext as WeChat Pay does a notification
// resource and returns the base64 ciphertext‖tag. nonce must be NonceLen
// bytes.
func EncryptResource(apiv3Key, nonce, associatedData string, plaintext []byte) (ciphertextB64 string, err error) {
	if err := checkAPIv3Key(apiv3Key); err != nil {
		return "", fmt.Errorf("wechatpay: APIv3 key: %w", err)
	}
	aead, err := newGCM([]byte(apiv3Key))
	if err != nil {
		return "", fmt.Errorf("wechatpay: %w", err)
	}
	if len(nonce) != aead.NonceSize() {
		return "", fmt.Errorf("wechatpay: nonce is %d bytes, want %d", len(nonce), aead.NonceSize())
	}
	return base64.StdEncoding.EncodeToString(aead.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))), nil
}

// wireResource holds the decrypted fields Tower reads, of a transaction or
// a refund, raw so each is decoded on its own and a bad one named.
type wireResource struct {
	MchID        json.RawMessage `json:"mchid"`
	OutTradeNo   json.RawMessage `json:"out_trade_no"`
	TradeState   json.RawMessage `json:"trade_state"`
	RefundStatus json.RawMessage `json:"refund_status"`
	SuccessTime  json.RawMessage `json:"success_time"`
	Payer        json.RawMessage `json:"payer"`
	Amount       json.RawMessage `json:"amount"`
}

type wirePayer struct {
	OpenID json.RawMessage `json:"openid"`
}

type wireAmount struct {
	Total    json.RawMessage `json:"total"`
	Refund   json.RawMessage `json:"refund"`
	Currency json.RawMessage `json:"currency"`
}

// checkMchID refuses a resource for another merchant. A mapped event type
// must name the merchant; others are refused only when they name another.
func (s *Source) checkMchID(eventType string, raw json.RawMessage) error {
	mapped := eventType == EventTransactionSuccess || eventType == EventRefundSuccess
	if wire.Absent(raw) {
		if mapped {
			return fmt.Errorf("%w: %w: %w", platforms.ErrMalformed, ErrMchIDMismatch, wire.FieldErr("resource.mchid", "required"))
		}
		return nil
	}
	var d decoder
	id := d.str(raw, "resource.mchid")
	if d.err != nil {
		return fmt.Errorf("%w: %w: %w", platforms.ErrMalformed, ErrMchIDMismatch, d.err)
	}
	if id != s.mchID {
		return fmt.Errorf("%w: %w: %w", platforms.ErrMalformed, ErrMchIDMismatch,
			wire.FieldErr("resource.mchid", fmt.Sprintf("%q is not the configured merchant", wire.Truncate(id, 64))))
	}
	return nil
}

// mapResource maps a decrypted resource to an event, or returns why it
// cannot (the flag's reason).
func (s *Source) mapResource(env *Envelope, w *wireResource) (order.Event, string) {
	var d decoder
	e := order.Event{ID: env.ID, Source: s.name, System: order.SystemChannel}
	switch env.EventType {
	case EventTransactionSuccess:
		if st := d.str(w.TradeState, "trade_state"); d.err == nil && st != "SUCCESS" {
			if st == "" {
				return e, "trade_state: required"
			}
			return e, fmt.Sprintf("trade_state %q not mapped", wire.Truncate(st, 64))
		}
		e.Kind = order.KindPaid
		var p wirePayer
		if d.object(w.Payer, &p, "payer") {
			e.Data.BuyerID = d.str(p.OpenID, "payer.openid")
		}
		e.Data.Amount, e.Data.Currency = d.amount(w.Amount, "total")
	case EventRefundSuccess:
		if st := d.str(w.RefundStatus, "refund_status"); d.err == nil && st != "" && st != "SUCCESS" {
			return e, fmt.Sprintf("refund_status %q not mapped", wire.Truncate(st, 64))
		}
		e.Kind = order.KindRefundCompleted
		e.Data.Amount, e.Data.Currency = d.amount(w.Amount, "refund")
	case EventRefundAbnormal, EventRefundClosed:
		return e, fmt.Sprintf("event_type %q not mapped", env.EventType)
	default:
		return e, fmt.Sprintf("unknown event_type %q", wire.Truncate(env.EventType, 64))
	}
	e.Order = order.Key{Channel: s.channel, OrderNo: d.str(w.OutTradeNo, "out_trade_no")}
	e.OccurredAt = d.time(w.SuccessTime, "success_time")
	if d.err == nil && wire.Absent(w.SuccessTime) {
		// success_time is the source time; the envelope's create_time
		// stands in when a resource lacks it.
		if t, err := time.Parse(time.RFC3339, env.CreateTime); err == nil {
			e.OccurredAt = t
		} else {
			d.fail("success_time", "required")
		}
	}
	if d.err != nil {
		return e, d.err.Error()
	}
	if e.Order.OrderNo == "" {
		return e, "out_trade_no: required"
	}
	if err := e.ValidateRef(); err != nil {
		return e, err.Error()
	}
	return e, ""
}

// decoder keeps the first field error; later calls are no-ops once one
// failed. A field that is absent or null decodes to its zero value.
type decoder struct{ err error }

func (d *decoder) fail(field, reason string) {
	if d.err == nil {
		d.err = wire.FieldErr(field, reason)
	}
}

func (d *decoder) str(raw json.RawMessage, field string) string {
	if d.err != nil || wire.Absent(raw) {
		return ""
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		d.fail(field, "want a string")
	}
	return s
}

// int64 reads an integer literal exactly (never through float64).
func (d *decoder) int64(raw json.RawMessage, field string) (int64, bool) {
	if d.err != nil || wire.Absent(raw) {
		return 0, false
	}
	var n int64
	if c := raw[0]; (c != '-' && (c < '0' || c > '9')) || json.Unmarshal(raw, &n) != nil {
		d.fail(field, "want an integer (fen)")
		return 0, false
	}
	return n, true
}

func (d *decoder) time(raw json.RawMessage, field string) time.Time {
	if d.err != nil || wire.Absent(raw) {
		return time.Time{}
	}
	s := d.str(raw, field)
	if d.err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		d.fail(field, "want an RFC 3339 time, e.g. 2026-11-24T20:00:00+08:00")
	}
	return t
}

// amount reads amount.<field> (fen, required, not negative) and
// amount.currency (default DefaultCurrency).
func (d *decoder) amount(raw json.RawMessage, field string) (*order.Money, string) {
	var w wireAmount
	if !d.object(raw, &w, "amount") {
		d.fail("amount."+field, "required")
		return nil, ""
	}
	src := w.Total
	if field == "refund" {
		src = w.Refund
	}
	n, ok := d.int64(src, "amount."+field)
	if !ok {
		d.fail("amount."+field, "required")
		return nil, ""
	}
	if n < 0 {
		d.fail("amount."+field, "negative")
		return nil, ""
	}
	cur := d.str(w.Currency, "amount.currency")
	if cur == "" {
		cur = DefaultCurrency
	}
	m := order.Money(n)
	return &m, cur
}

// object decodes raw into the wire struct out and reports whether it was
// present; null counts as absent.
func (d *decoder) object(raw json.RawMessage, out any, field string) bool {
	if d.err != nil || wire.Absent(raw) {
		return false
	}
	if raw[0] != '{' || json.Unmarshal(raw, out) != nil {
		d.fail(field, "want an object")
		return false
	}
	return true
}

func malformed(err error) error {
	return fmt.Errorf("%w: %w", platforms.ErrMalformed, err)
}
