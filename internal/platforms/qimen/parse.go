package qimen

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// Parse turns a verified request into canonical events; see ParseMessage.
// It reads method and format from the query (r.Query).
func (s *Source) Parse(r *platforms.Request) (*platforms.Delivery, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: no request", platforms.ErrMalformed)
	}
	return s.ParseMessage(r.Query.Get(ParamMethod), r.Query.Get(ParamFormat), r.Body, r.ReceivedAt)
}

// processKinds maps orderprocess.report processStatus codes to kinds; the
// other codes (NEW, PRINT, CHECK, READY, EXCEPTION, CANCELED, ...) are
// flagged.
var processKinds = map[string]order.Kind{
	"ACCEPT":    order.KindWMSReceived,
	"PICK":      order.KindWMSPicked,
	"PACKAGE":   order.KindWMSPacked,
	"WEIGH":     order.KindWMSPacked,
	"DELIVERED": order.KindWMSOutbound,
}

// ParseMessage turns the body of a Qimen call into canonical wms.* events,
// System wms, Order.OrderNo the ERP order code (Order.Channel the
// configured channel, if any). method may carry the "taobao.qimen." prefix
// or not; format is "xml" (also when empty) or "json". receivedAt stands in
// for a message without its own time.
//
//   - orderprocess.report: processStatus ACCEPT → wms.received, PICK →
//     wms.picked, PACKAGE and WEIGH → wms.packed, DELIVERED → wms.outbound,
//     at operateTime, with Warehouse warehouseCode and, on wms.packed,
//     Packer operatorCode. Event ID "process:{orderCode}:{processStatus}:{operateTime}".
//   - deliveryorder.confirm, and each order of deliveryorder.batchconfirm:
//     status DELIVERED, or a final confirmation (confirmType 0) with
//     packages and status empty or PARTDELIVERED, → wms.outbound at
//     orderConfirmTime (else operateTime), with Warehouse warehouseCode,
//     Courier and TrackingNo the first package's logisticsCode and
//     expressCode (else the delivery order's). Each further package is
//     flagged, as an event carries one tracking number. Event ID
//     "confirm:{outBizCode}", or "confirm:{deliveryOrderCode}:{status}:{time}"
//     without outBizCode.
//
// An unmapped status, a missing order code or a bad time flags that item;
// the rest of the delivery still maps. Delivery.ID is empty: repeats are
// recognised by event id. Every error wraps platforms.ErrMalformed: an
// unknown method or format, a body that is not XML with root <request> (or
// a JSON object), or a request without the method's main element.
func (s *Source) ParseMessage(method, format string, body []byte, receivedAt time.Time) (*platforms.Delivery, error) {
	short := strings.TrimPrefix(method, MethodPrefix)
	switch short {
	case MethodDeliveryOrderConfirm, MethodDeliveryOrderBatchConfirm, MethodOrderProcessReport:
	case "":
		return nil, fmt.Errorf("%w: query: no method", platforms.ErrMalformed)
	default:
		return nil, fmt.Errorf("%w: method %s not understood", platforms.ErrMalformed, strconv.Quote(wire.Truncate(method, 64)))
	}
	var items []item
	var err error
	sanitized := false
	switch format {
	case FormatXML, "":
		body, sanitized = wire.XMLText(body)
		items, err = decodeXML(short, body)
	case FormatJSON:
		items, err = decodeJSON(short, body)
	default:
		return nil, fmt.Errorf("%w: format %s: want xml or json", platforms.ErrMalformed, strconv.Quote(wire.Truncate(format, 32)))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", platforms.ErrMalformed, err)
	}
	d := &platforms.Delivery{Sanitized: sanitized}
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		var e *order.Event
		var flags []platforms.Flag
		switch {
		case it.err != nil:
			flags = []platforms.Flag{{ItemID: it.id, Reason: it.err.Error()}}
		case it.process != nil:
			e, flags = s.processEvent(it.process, receivedAt)
		default:
			e, flags = s.confirmEvent(it.confirm, receivedAt)
		}
		if e != nil {
			if seen[e.ID] {
				flags = append(flags, platforms.Flag{ItemID: e.ID, Reason: "event id repeats within the request"})
			} else {
				seen[e.ID] = true
				d.Events = append(d.Events, *e)
			}
		}
		d.Flagged = append(d.Flagged, flags...)
	}
	return d, nil
}

// item is one message of a request, or why it could not be decoded.
type item struct {
	confirm *wireConfirm
	process *wireProcessReport
	id      string
	err     error
}

type wireDeliveryOrder struct {
	DeliveryOrderCode wire.Text `xml:"deliveryOrderCode" json:"deliveryOrderCode"`
	WarehouseCode     wire.Text `xml:"warehouseCode" json:"warehouseCode"`
	Status            wire.Text `xml:"status" json:"status"`
	OutBizCode        wire.Text `xml:"outBizCode" json:"outBizCode"`
	ConfirmType       wire.Text `xml:"confirmType" json:"confirmType"`
	OrderConfirmTime  wire.Text `xml:"orderConfirmTime" json:"orderConfirmTime"`
	OperateTime       wire.Text `xml:"operateTime" json:"operateTime"`
	LogisticsCode     wire.Text `xml:"logisticsCode" json:"logisticsCode"`
	ExpressCode       wire.Text `xml:"expressCode" json:"expressCode"`
}

type wirePackage struct {
	LogisticsCode wire.Text `xml:"logisticsCode" json:"logisticsCode"`
	ExpressCode   wire.Text `xml:"expressCode" json:"expressCode"`
}

// packageList accepts, in JSON, an array, a single object or the XML-like
// wrapper {"package": [...]}.
type packageList []wirePackage

func (l *packageList) UnmarshalJSON(b []byte) error {
	v, err := decodeList[wirePackage](b, "package")
	*l = v
	return err
}

// wireConfirm is a deliveryorder.confirm request, or one order of a
// deliveryorder.batchconfirm (which may carry outBizCode beside its
// deliveryOrder).
type wireConfirm struct {
	DeliveryOrder *wireDeliveryOrder `xml:"deliveryOrder" json:"deliveryOrder"`
	Packages      packageList        `xml:"packages>package" json:"packages"`
	OutBizCode    wire.Text          `xml:"outBizCode" json:"outBizCode"`
}

type wireProcessReport struct {
	Order *struct {
		OrderCode     wire.Text `xml:"orderCode" json:"orderCode"`
		WarehouseCode wire.Text `xml:"warehouseCode" json:"warehouseCode"`
	} `xml:"order" json:"order"`
	Process *struct {
		ProcessStatus wire.Text `xml:"processStatus" json:"processStatus"`
		OperatorCode  wire.Text `xml:"operatorCode" json:"operatorCode"`
		OperateTime   wire.Text `xml:"operateTime" json:"operateTime"`
	} `xml:"process" json:"process"`
}

func decodeXML(method string, body []byte) ([]item, error) {
	var err error
	var items []item
	switch method {
	case MethodDeliveryOrderConfirm:
		var r struct {
			XMLName xml.Name `xml:"request"`
			wireConfirm
		}
		if err = xml.Unmarshal(body, &r); err == nil {
			if r.DeliveryOrder == nil {
				return nil, errors.New("request: no deliveryOrder")
			}
			items = []item{{confirm: &r.wireConfirm}}
		}
	case MethodDeliveryOrderBatchConfirm:
		var r struct {
			XMLName xml.Name      `xml:"request"`
			Orders  []wireConfirm `xml:"orders>order"`
		}
		if err = xml.Unmarshal(body, &r); err == nil {
			if len(r.Orders) == 0 {
				return nil, errors.New("request: no orders/order")
			}
			items = make([]item, len(r.Orders))
			for i := range r.Orders {
				items[i] = item{confirm: &r.Orders[i]}
			}
		}
	case MethodOrderProcessReport:
		var r struct {
			XMLName xml.Name `xml:"request"`
			wireProcessReport
		}
		if err = xml.Unmarshal(body, &r); err == nil {
			if r.Order == nil || r.Process == nil {
				return nil, errors.New("request: want order and process")
			}
			items = []item{{process: &r.wireProcessReport}}
		}
	}
	if err != nil {
		if se, ok := errors.AsType[*xml.SyntaxError](err); ok {
			return nil, fmt.Errorf("invalid XML at line %d: %s", se.Line, se.Msg)
		}
		return nil, errors.New("body: want XML with root <request> in UTF-8")
	}
	return items, nil
}

func decodeJSON(method string, body []byte) ([]item, error) {
	root, err := jsonObject(body)
	if err != nil {
		return nil, err
	}
	// Accept {"request": {...}} as well as the bare object.
	if inner, ok := root["request"]; ok && wire.IsKind(inner, '{') {
		if root, err = jsonObject(inner); err != nil {
			return nil, err
		}
	}
	switch method {
	case MethodDeliveryOrderConfirm:
		if !wire.IsKind(root["deliveryOrder"], '{') {
			return nil, errors.New("request: no deliveryOrder object")
		}
		return []item{confirmItem(root)}, nil
	case MethodDeliveryOrderBatchConfirm:
		raws, err := decodeList[json.RawMessage](root["orders"], "order")
		if err != nil || len(raws) == 0 {
			return nil, errors.New("request: want orders, a non-empty array")
		}
		items := make([]item, len(raws))
		for i, raw := range raws {
			m, err := jsonObject(raw)
			if err != nil {
				items[i] = item{err: fmt.Errorf("orders[%d]: want an object", i)}
				continue
			}
			items[i] = confirmItem(m)
			if items[i].err != nil {
				items[i].err = fmt.Errorf("orders[%d]: %w", i, items[i].err)
			}
		}
		return items, nil
	default: // MethodOrderProcessReport
		if !wire.IsKind(root["order"], '{') || !wire.IsKind(root["process"], '{') {
			return nil, errors.New("request: want order and process objects")
		}
		var r wireProcessReport
		if err := reencode(root, &r); err != nil {
			return []item{{id: rawText(root["order"], "orderCode"), err: jsonFieldErr(err)}}, nil
		}
		return []item{{process: &r}}, nil
	}
}

// confirmItem decodes one confirm object; a field of the wrong type flags
// the item.
func confirmItem(m map[string]json.RawMessage) item {
	var c wireConfirm
	if err := reencode(m, &c); err != nil {
		do := m["deliveryOrder"]
		id := first(rawText(do, "outBizCode"), rawText(mustMarshal(m), "outBizCode"), rawText(do, "deliveryOrderCode"))
		return item{id: id, err: jsonFieldErr(err)}
	}
	return item{confirm: &c}
}

// rawText reads the text field key of a JSON object, best effort (for
// naming a flagged item): "" when anything is amiss.
func rawText(obj json.RawMessage, key string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return ""
	}
	var t wire.Text
	if raw, ok := m[key]; !ok || t.UnmarshalJSON(raw) != nil {
		return ""
	}
	return t.String()
}

func jsonFieldErr(err error) error {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
		return fmt.Errorf("%s: wrong type (%s)", te.Field, te.Value)
	}
	return errors.New("a field has the wrong type")
}

func reencode(m map[string]json.RawMessage, out any) error {
	return json.Unmarshal(mustMarshal(m), out)
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // raw messages already validated: cannot happen
		return []byte("null")
	}
	return b
}

func jsonObject(b []byte) (map[string]json.RawMessage, error) {
	b = bytes.TrimSpace(b)
	if !wire.IsKind(b, '{') {
		return nil, errors.New("body: want a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, fmt.Errorf("invalid JSON at byte %d: %s", se.Offset, se)
		}
		return nil, errors.New("body: want a JSON object")
	}
	return m, nil
}

// decodeList reads an array, a single object, or {inner: array|object}.
func decodeList[T any](b []byte, inner string) ([]T, error) {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil, nil
	case b[0] == '[':
		var out []T
		err := json.Unmarshal(b, &out)
		return out, err
	case b[0] == '{':
		if inner != "" {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, err
			}
			if v, ok := m[inner]; ok && len(m) == 1 {
				return decodeList[T](v, "")
			}
		}
		var one T
		if err := json.Unmarshal(b, &one); err != nil {
			return nil, err
		}
		return []T{one}, nil
	}
	return nil, errors.New("want an array or object")
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// when parses a message time (GMT+8), falling back to receivedAt when the
// message has none.
func when(field, v string, receivedAt time.Time) (time.Time, error) {
	if v == "" {
		if receivedAt.IsZero() {
			return time.Time{}, fmt.Errorf("%s: missing, and no receive time", field)
		}
		return receivedAt, nil
	}
	t, err := time.ParseInLocation(TimestampLayout, v, cst)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %s: want yyyy-MM-dd HH:mm:ss", field, strconv.Quote(wire.Truncate(v, 40)))
	}
	return t, nil
}

func (s *Source) processEvent(r *wireProcessReport, receivedAt time.Time) (*order.Event, []platforms.Flag) {
	code := r.Order.OrderCode.String()
	if code == "" {
		return nil, []platforms.Flag{{Reason: "order.orderCode: missing"}}
	}
	status := strings.ToUpper(r.Process.ProcessStatus.String())
	kind, ok := processKinds[status]
	if !ok {
		return nil, []platforms.Flag{{ItemID: code, Reason: fmt.Sprintf("processStatus %s not mapped", strconv.Quote(wire.Truncate(status, 40)))}}
	}
	opTime := r.Process.OperateTime.String()
	at, err := when("operateTime", opTime, receivedAt)
	if err != nil {
		return nil, []platforms.Flag{{ItemID: code, Reason: err.Error()}}
	}
	e := &order.Event{
		ID:     "process:" + code + ":" + status + ":" + opTime,
		Source: s.name, Kind: kind, System: order.SystemWMS, OccurredAt: at,
		Order: order.Key{Channel: s.channel, OrderNo: code},
		Data:  order.Data{Warehouse: r.Order.WarehouseCode.String()},
	}
	if kind == order.KindWMSPacked {
		// The operator of a packing step is its packer (throughput per
		// packer); of the other steps, someone else.
		e.Data.Packer = r.Process.OperatorCode.String()
	}
	if err := e.ValidateRef(); err != nil {
		return nil, []platforms.Flag{{ItemID: code, Reason: err.Error()}}
	}
	return e, nil
}

func (s *Source) confirmEvent(c *wireConfirm, receivedAt time.Time) (*order.Event, []platforms.Flag) {
	do := c.DeliveryOrder
	if do == nil {
		return nil, []platforms.Flag{{ItemID: c.OutBizCode.String(), Reason: "no deliveryOrder"}}
	}
	code := do.DeliveryOrderCode.String()
	outBiz := first(do.OutBizCode.String(), c.OutBizCode.String())
	itemID := first(outBiz, code)
	flag := func(reason string) (*order.Event, []platforms.Flag) {
		return nil, []platforms.Flag{{ItemID: itemID, Reason: reason}}
	}
	status := strings.ToUpper(do.Status.String())
	confirmType := do.ConfirmType.String()
	final := confirmType == "0" && len(c.Packages) > 0 && (status == "" || status == "PARTDELIVERED")
	if status != "DELIVERED" && !final {
		return flag(fmt.Sprintf("status %s (confirmType %s) not mapped", strconv.Quote(wire.Truncate(status, 40)), strconv.Quote(wire.Truncate(confirmType, 8))))
	}
	if code == "" {
		return flag("deliveryOrder.deliveryOrderCode: missing")
	}
	field, tstr := "orderConfirmTime", do.OrderConfirmTime.String()
	if tstr == "" {
		field, tstr = "operateTime", do.OperateTime.String()
	}
	at, err := when(field, tstr, receivedAt)
	if err != nil {
		return flag(err.Error())
	}
	id := "confirm:" + outBiz
	if outBiz == "" {
		id = "confirm:" + code + ":" + status + ":" + tstr
	}
	e := &order.Event{
		ID: id, Source: s.name, Kind: order.KindWMSOutbound, System: order.SystemWMS, OccurredAt: at,
		Order: order.Key{Channel: s.channel, OrderNo: code},
		Data: order.Data{
			Warehouse:  do.WarehouseCode.String(),
			Courier:    do.LogisticsCode.String(),
			TrackingNo: do.ExpressCode.String(),
		},
	}
	var flags []platforms.Flag
	if len(c.Packages) > 0 {
		p := c.Packages[0]
		e.Data.Courier = first(p.LogisticsCode.String(), e.Data.Courier)
		e.Data.TrackingNo = first(p.ExpressCode.String(), e.Data.TrackingNo)
		for i, p := range c.Packages[1:] {
			flags = append(flags, platforms.Flag{
				ItemID: first(p.ExpressCode.String(), itemID),
				Reason: fmt.Sprintf("package %d of %d not mapped: the event carries the first package's tracking number", i+2, len(c.Packages)),
			})
		}
	}
	if err := e.ValidateRef(); err != nil {
		return flag(err.Error())
	}
	return e, flags
}
