package wechatpay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file builds notifications as WeChat Pay sends them, for the
// simulator and tests.

// Transaction is the decrypted resource of a TRANSACTION.* notification
// (the fields Tower reads and a few more).
type Transaction struct {
	AppID          string            `json:"appid,omitempty"`
	MchID          string            `json:"mchid"`
	OutTradeNo     string            `json:"out_trade_no"`
	TransactionID  string            `json:"transaction_id,omitempty"`
	TradeType      string            `json:"trade_type,omitempty"`
	TradeState     string            `json:"trade_state"`
	TradeStateDesc string            `json:"trade_state_desc,omitempty"`
	BankType       string            `json:"bank_type,omitempty"`
	Attach         string            `json:"attach,omitempty"`
	SuccessTime    string            `json:"success_time,omitempty"` // RFC 3339
	Payer          *Payer            `json:"payer,omitempty"`
	Amount         TransactionAmount `json:"amount"`
}

// Payer is who paid.
type Payer struct {
	OpenID string `json:"openid"`
}

// TransactionAmount is in fen.
type TransactionAmount struct {
	Total         int64  `json:"total"`
	PayerTotal    int64  `json:"payer_total"`
	Currency      string `json:"currency,omitempty"`
	PayerCurrency string `json:"payer_currency,omitempty"`
}

// Refund is the decrypted resource of a REFUND.* notification.
type Refund struct {
	MchID               string       `json:"mchid"`
	OutTradeNo          string       `json:"out_trade_no"`
	TransactionID       string       `json:"transaction_id,omitempty"`
	OutRefundNo         string       `json:"out_refund_no,omitempty"`
	RefundID            string       `json:"refund_id,omitempty"`
	RefundStatus        string       `json:"refund_status"`
	SuccessTime         string       `json:"success_time,omitempty"` // RFC 3339
	UserReceivedAccount string       `json:"user_received_account,omitempty"`
	Amount              RefundAmount `json:"amount"`
}

// RefundAmount is in fen.
type RefundAmount struct {
	Total       int64 `json:"total"`
	Refund      int64 `json:"refund"`
	PayerTotal  int64 `json:"payer_total"`
	PayerRefund int64 `json:"payer_refund"`
}

// Signer holds what WeChat Pay signs and encrypts a notification with.
type Signer struct {
	// APIv3Key is the merchant's APIv3 key (32 ASCII characters).
	APIv3Key string
	// PrivateKey is the platform private key matching the source's
	// platform public key.
	PrivateKey *rsa.PrivateKey
	// Serial is sent as Wechatpay-Serial: the source's
	// PlatformPublicKeyID.
	Serial string
}

// Notification describes one notification to build. Zero fields get
// defaults, as noted.
type Notification struct {
	// ID is the notification id; random ("EV-…") when empty.
	ID string
	// EventType defaults to TRANSACTION.SUCCESS for a Transaction
	// resource and REFUND.<refund_status> (REFUND.SUCCESS when empty) for
	// a Refund.
	EventType string
	// Summary defaults to a Chinese summary of the event type.
	Summary string
	// CreateTime defaults to Timestamp in UTC+8.
	CreateTime time.Time
	// Resource is the plaintext: a Transaction, a Refund (or pointers to
	// them), or any value marshalled to JSON; []byte and json.RawMessage
	// are used as they are.
	Resource any
	// OriginalType defaults to "transaction" or "refund" by event type.
	OriginalType string
	// AssociatedData defaults to OriginalType.
	AssociatedData string
	// ResourceNonce is the 12-byte AES-GCM nonce; random when empty.
	ResourceNonce string
	// Timestamp (unix seconds) defaults to now.
	Timestamp int64
	// Nonce (Wechatpay-Nonce) is random when empty.
	Nonce string
	// RequestID, when set, is sent as Request-ID.
	RequestID string
}

// NewNotification builds the body and headers of a notification: the
// resource encrypted with sg.APIv3Key, the message signed with
// sg.PrivateKey, Wechatpay-Serial set to sg.Serial.
func NewNotification(sg Signer, n Notification) (body []byte, header http.Header, err error) {
	if sg.PrivateKey == nil {
		return nil, nil, errors.New("wechatpay: signer: nil private key")
	}
	var plain []byte
	switch r := n.Resource.(type) {
	case nil:
		return nil, nil, errors.New("wechatpay: notification: nil resource")
	case []byte:
		plain = r
	case json.RawMessage:
		plain = r
	default:
		if plain, err = json.Marshal(r); err != nil {
			return nil, nil, fmt.Errorf("wechatpay: notification resource: %w", err)
		}
	}
	if n.EventType == "" {
		switch r := n.Resource.(type) {
		case Refund:
			n.EventType = refundEvent(r.RefundStatus)
		case *Refund:
			n.EventType = refundEvent(r.RefundStatus)
		default:
			n.EventType = EventTransactionSuccess
		}
	}
	if n.ID == "" {
		n.ID = "EV-" + rand.Text()
	}
	if n.Timestamp == 0 {
		n.Timestamp = time.Now().Unix()
	}
	if n.Nonce == "" {
		n.Nonce = rand.Text()
	}
	if n.ResourceNonce == "" {
		n.ResourceNonce = rand.Text()[:NonceLen]
	}
	if n.OriginalType == "" {
		n.OriginalType = "transaction"
		if strings.HasPrefix(n.EventType, "REFUND.") {
			n.OriginalType = "refund"
		}
	}
	if n.AssociatedData == "" {
		n.AssociatedData = n.OriginalType
	}
	if n.Summary == "" {
		n.Summary = summaries[n.EventType]
	}
	if n.CreateTime.IsZero() {
		n.CreateTime = time.Unix(n.Timestamp, 0).In(chinaTime)
	}
	ct, err := EncryptResource(sg.APIv3Key, n.ResourceNonce, n.AssociatedData, plain)
	if err != nil {
		return nil, nil, err
	}
	body, err = json.Marshal(Envelope{
		ID: n.ID, CreateTime: n.CreateTime.Format(time.RFC3339), ResourceType: ResourceTypeEncrypted,
		EventType: n.EventType, Summary: n.Summary,
		Resource: Resource{
			OriginalType: n.OriginalType, Algorithm: AlgorithmAES256GCM, Ciphertext: ct,
			AssociatedData: n.AssociatedData, Nonce: n.ResourceNonce,
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("wechatpay: notification: %w", err)
	}
	sig, err := SignNotification(sg.PrivateKey, n.Timestamp, n.Nonce, body)
	if err != nil {
		return nil, nil, err
	}
	header = http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set(HeaderTimestamp, strconv.FormatInt(n.Timestamp, 10))
	header.Set(HeaderNonce, n.Nonce)
	header.Set(HeaderSignature, sig)
	header.Set(HeaderSerial, sg.Serial)
	header.Set(HeaderSignatureType, SignatureType)
	if n.RequestID != "" {
		header.Set(HeaderRequestID, n.RequestID)
	}
	return body, header, nil
}

func refundEvent(status string) string {
	if status == "" {
		return EventRefundSuccess
	}
	return "REFUND." + status
}

var summaries = map[string]string{
	EventTransactionSuccess: "支付成功",
	EventRefundSuccess:      "退款成功",
	EventRefundAbnormal:     "退款异常",
	EventRefundClosed:       "退款关闭",
}

var chinaTime = time.FixedZone("CST", 8*3600)

// MarshalPublicKeyPEM encodes pub as a PEM "PUBLIC KEY" (PKIX) block, the
// form of a platform_public_key_file.
func MarshalPublicKeyPEM(pub *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
