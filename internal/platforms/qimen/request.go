package qimen

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/towerhq/tower/internal/platforms"
)

// The request bodies a WMS sends, for the simulator and tests. Marshalled
// with EncodeBody they give the Qimen XML (lists wrapped as
// packages/package, orders/order) or JSON (lists as arrays). Empty fields
// are left out.

// DeliveryOrder is the deliveryOrder element of a confirmation. Field order
// follows the Qimen documentation.
type DeliveryOrder struct {
	DeliveryOrderCode string `xml:"deliveryOrderCode,omitempty" json:"deliveryOrderCode,omitempty"`
	DeliveryOrderID   string `xml:"deliveryOrderId,omitempty" json:"deliveryOrderId,omitempty"`
	WarehouseCode     string `xml:"warehouseCode,omitempty" json:"warehouseCode,omitempty"`
	OrderType         string `xml:"orderType,omitempty" json:"orderType,omitempty"`
	Status            string `xml:"status,omitempty" json:"status,omitempty"`
	OutBizCode        string `xml:"outBizCode,omitempty" json:"outBizCode,omitempty"`
	ConfirmType       string `xml:"confirmType,omitempty" json:"confirmType,omitempty"`
	OrderConfirmTime  string `xml:"orderConfirmTime,omitempty" json:"orderConfirmTime,omitempty"`
	OperateTime       string `xml:"operateTime,omitempty" json:"operateTime,omitempty"`
	LogisticsCode     string `xml:"logisticsCode,omitempty" json:"logisticsCode,omitempty"`
	ExpressCode       string `xml:"expressCode,omitempty" json:"expressCode,omitempty"`
}

// Package is one parcel of a confirmation.
type Package struct {
	LogisticsCode string `xml:"logisticsCode,omitempty" json:"logisticsCode,omitempty"`
	ExpressCode   string `xml:"expressCode,omitempty" json:"expressCode,omitempty"`
	PackageCode   string `xml:"packageCode,omitempty" json:"packageCode,omitempty"`
	Weight        string `xml:"weight,omitempty" json:"weight,omitempty"`
}

// ConfirmOrder is one delivery order with its packages.
type ConfirmOrder struct {
	DeliveryOrder DeliveryOrder `xml:"deliveryOrder" json:"deliveryOrder"`
	Packages      []Package     `xml:"packages>package,omitempty" json:"packages,omitempty"`
}

// ConfirmRequest is the body of deliveryorder.confirm.
type ConfirmRequest struct {
	XMLName xml.Name `xml:"request" json:"-"`
	ConfirmOrder
}

// BatchConfirmRequest is the body of deliveryorder.batchconfirm.
type BatchConfirmRequest struct {
	XMLName xml.Name       `xml:"request" json:"-"`
	Orders  []ConfirmOrder `xml:"orders>order" json:"orders"`
}

// ProcessOrder is the order element of orderprocess.report.
type ProcessOrder struct {
	OrderCode     string `xml:"orderCode,omitempty" json:"orderCode,omitempty"`
	OrderID       string `xml:"orderId,omitempty" json:"orderId,omitempty"`
	OrderType     string `xml:"orderType,omitempty" json:"orderType,omitempty"`
	WarehouseCode string `xml:"warehouseCode,omitempty" json:"warehouseCode,omitempty"`
}

// Process is the process element of orderprocess.report.
type Process struct {
	ProcessStatus string `xml:"processStatus,omitempty" json:"processStatus,omitempty"`
	OperatorCode  string `xml:"operatorCode,omitempty" json:"operatorCode,omitempty"`
	OperatorName  string `xml:"operatorName,omitempty" json:"operatorName,omitempty"`
	OperateTime   string `xml:"operateTime,omitempty" json:"operateTime,omitempty"`
	OperateInfo   string `xml:"operateInfo,omitempty" json:"operateInfo,omitempty"`
	Remark        string `xml:"remark,omitempty" json:"remark,omitempty"`
}

// ProcessReportRequest is the body of orderprocess.report.
type ProcessReportRequest struct {
	XMLName xml.Name     `xml:"request" json:"-"`
	Order   ProcessOrder `xml:"order" json:"order"`
	Process Process      `xml:"process" json:"process"`
}

// FormatTime writes t as a Qimen time, "yyyy-MM-dd HH:mm:ss" in GMT+8.
func FormatTime(t time.Time) string { return t.In(cst).Format(TimestampLayout) }

// EncodeBody marshals a request body (ConfirmRequest, ...) as format
// (FormatXML, also when empty, or FormatJSON), without an XML declaration.
func EncodeBody(v any, format string) ([]byte, error) {
	switch format {
	case FormatXML, "":
		return xml.Marshal(v)
	case FormatJSON:
		return json.Marshal(v)
	}
	return nil, fmt.Errorf("qimen: format %q: want xml or json", format)
}

// Params are the system parameters of a call.
type Params struct {
	// Method, e.g. "taobao.qimen.deliveryorder.confirm".
	Method     string
	AppKey     string
	CustomerID string
	// Format is FormatXML or FormatJSON; empty means FormatXML.
	Format string
	// Timestamp is written in GMT+8.
	Timestamp time.Time
	// Version is v; empty means "2.0".
	Version string
}

// SignedQuery returns the query of a call with p's parameters,
// sign_method md5 and the sign over them and body.
func SignedQuery(p Params, body []byte, secret string) url.Values {
	format, version := p.Format, p.Version
	if format == "" {
		format = FormatXML
	}
	if version == "" {
		version = "2.0"
	}
	m := map[string]string{
		ParamMethod: p.Method, ParamAppKey: p.AppKey, ParamCustomerID: p.CustomerID,
		ParamFormat: format, ParamSignMethod: SignMethodMD5,
		ParamTimestamp: FormatTime(p.Timestamp), ParamVersion: version,
	}
	q := make(url.Values, len(m)+1)
	for k, v := range m {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set(ParamSign, Sign(m, body, secret))
	return q
}

// NewRequest returns a signed call as Verify and Parse receive it: the
// signed query, the body, and ReceivedAt p.Timestamp. Over HTTP, POST body
// to endpoint + "?" + SignedQuery(...).Encode().
func NewRequest(p Params, body []byte, secret string) *platforms.Request {
	h := http.Header{}
	if p.Format == FormatJSON {
		h.Set("Content-Type", "application/json; charset=utf-8")
	} else {
		h.Set("Content-Type", "text/xml; charset=utf-8")
	}
	return &platforms.Request{Header: h, Query: SignedQuery(p, body, secret), Body: body, ReceivedAt: p.Timestamp}
}
