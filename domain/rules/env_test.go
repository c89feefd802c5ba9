package rules

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
)

// envNames walks Env's expr tags: every path an expression can reach, with
// its type as documented in NameDoc.Type.
func envNames(t *testing.T) map[string]string {
	t.Helper()
	out := make(map[string]string)
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if !f.IsExported() {
				continue // invisible to expressions
			}
			tag := f.Tag.Get("expr")
			if tag == "" || tag == "-" {
				t.Errorf("%s.%s has no expr tag", typ.Name(), f.Name)
				continue
			}
			name := prefix + tag
			out[name] = docType(f.Type)
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct && ft != timeType:
				walk(name+".", ft)
			case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && ft.Elem() != timeType:
				walk(name+".", ft.Elem())
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(name+"[].", ft.Elem())
			}
		}
		// Methods would be callable from expressions, undocumented.
		if n := reflect.PointerTo(typ).NumMethod(); n > 0 && typ != timeType {
			t.Errorf("%s has %d methods: expressions could call them", typ.Name(), n)
		}
	}
	walk("", reflect.TypeOf(Env{}))
	return out
}

// docType names a Go type the way NameDoc.Type does.
func docType(t reflect.Type) string {
	switch {
	case t == timeType:
		return "time"
	case t == timePtrType:
		return "time|nil"
	case t == reflect.TypeOf(time.Duration(0)):
		return "duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int:
		return "int"
	case reflect.Float64:
		return "float"
	case reflect.Struct:
		return "object"
	case reflect.Pointer:
		return docType(t.Elem()) + "|nil"
	case reflect.Slice:
		return "list<" + docType(t.Elem()) + ">"
	case reflect.Map:
		return "map<" + docType(t.Key()) + "," + docType(t.Elem()) + ">"
	case reflect.Func:
		var in []string
		for i := 0; i < t.NumIn(); i++ {
			in = append(in, docType(t.In(i)))
		}
		return "func(" + strings.Join(in, ", ") + ") " + docType(t.Out(0))
	}
	return t.String()
}

func TestNamesCoverEnv(t *testing.T) {
	fields := envNames(t)
	docs := make(map[string]NameDoc)
	for _, n := range Names {
		if _, dup := docs[n.Name]; dup {
			t.Errorf("Names lists %s twice", n.Name)
		}
		docs[n.Name] = n
		if strings.TrimSpace(n.Description) == "" || n.Type == "" {
			t.Errorf("%s: empty type or description", n.Name)
		}
	}
	for name, typ := range fields {
		d, ok := docs[name]
		switch {
		case !ok:
			t.Errorf("Env field %s (%s) is not documented in Names", name, typ)
		case d.Type != typ:
			t.Errorf("Names says %s is %s; it is %s", name, d.Type, typ)
		}
	}
	funcs := map[string]bool{"duration": true, "date": true} // expr built-ins we document
	for _, f := range functions {
		funcs[f.name] = true
		if _, ok := docs[f.name]; !ok {
			t.Errorf("function %s is not documented in Names", f.name)
		}
	}
	for name := range docs {
		if _, ok := fields[name]; !ok && !funcs[name] {
			t.Errorf("Names documents %s, which is neither an Env field nor a function", name)
		}
	}

	// The package documentation lists every name too.
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range Names {
		if !strings.Contains(string(src), "//\t"+n.Name+" ") && !strings.Contains(string(src), "//\t"+n.Name+"(") {
			t.Errorf("doc.go does not list %s", n.Name)
		}
	}

	md := NamesMarkdown()
	if rows := strings.Count(md, "\n"); rows != len(Names)+2 {
		t.Errorf("markdown has %d lines, want %d", rows, len(Names)+2)
	}
	if !strings.Contains(md, "| `order.receiver.phone` | string |") {
		t.Errorf("markdown:\n%s", md)
	}
}

// TestEveryNameCompiles: each documented variable is reachable.
func TestEveryNameCompiles(t *testing.T) {
	for name, typ := range envNames(t) {
		if strings.Contains(name, "[]") || strings.HasPrefix(typ, "func") {
			continue
		}
		if _, err := Compile(rule(name + " != nil || true")); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestNewEnv(t *testing.T) {
	es := plus(happy(order.KindCollected),
		ev(order.KindWMSOutbound, 3*time.Hour, sys(order.SystemERP), source("erp")),
		created(data(func(d *order.Data) {
			d.Items = []order.Item{{SKU: "A", Qty: 2, Price: 1050}, {SKU: "B", Qty: 3, Price: 99}}
			d.Amount = money(23.97)
			d.BuyerMessage = "尽快"
		})),
	)
	tw := twinOf(es...)
	trigger := ev(order.KindInTransit, 5*time.Hour, recovered(), data(func(d *order.Data) {
		d.Amount = money(12.5)
		d.Reason = "r"
		d.Courier = "SF"
		d.TrackingNo = "SF1"
		d.Warehouse = "HZ1"
		d.BuyerMessage = "m"
	}))
	tw.Apply(trigger)
	now := t0.Add(6 * time.Hour)
	env := NewEnv(&trigger, tw, Features{OrdersFromIP1h: 3, MinutesSincePaid: 999, LastCourierUpdateMinutes: 999}, now)

	if env.Event == nil || env.Event.Type != "courier.in_transit" || env.Event.System != "courier" || env.Event.Source != "test" ||
		!env.Event.At.Equal(t0.Add(5*time.Hour)) || !env.Event.Recovered {
		t.Errorf("event %+v", env.Event)
	}
	if d := env.Event.Data; d != (EventDataEnv{Amount: 12.5, BuyerMessage: "m", Reason: "r", Warehouse: "HZ1", Courier: "SF", TrackingNo: "SF1"}) {
		t.Errorf("event data %+v", d)
	}
	o := env.Order
	if o.Channel != "tmall" || o.OrderNo != testKey.OrderNo || o.Stage != "IN_TRANSIT" || o.Amount != 12.5 || o.Currency != "CNY" ||
		o.ItemCount != 5 || len(o.Items) != 2 || o.Items[0] != (ItemEnv{SKU: "A", Qty: 2, Price: 10.5}) ||
		o.BuyerID != "buyer-1" || o.BuyerIP != "10.1.2.3" || o.BuyerMessage != "m" || o.Shop != "旗舰店" ||
		o.Courier != "SF" || o.TrackingNo != "SF1" || o.Warehouse != "HZ1" {
		t.Errorf("order %+v", o)
	}
	if o.ShipBy == nil || !o.ShipBy.Equal(t0.Add(48*time.Hour)) || o.PromisedBy == nil || o.ShipBy.Location() != Location {
		t.Errorf("shipBy %v promisedBy %v", o.ShipBy, o.PromisedBy)
	}
	if o.Receiver.Phone != "13800138000" || o.Receiver.Province != "浙江省" || o.Receiver.Address != "文三路90号5栋301室" {
		t.Errorf("receiver %+v", o.Receiver)
	}
	tv := env.Twin
	if tv.Channel != "paid" || tv.ERP != "outbound" || tv.WMS != "outbound" || tv.Courier != "in_transit" || tv.Stage != "IN_TRANSIT" {
		t.Errorf("twin %+v", tv)
	}
	if !tv.At["courier"].Equal(t0.Add(5*time.Hour)) || !tv.At["erp"].Equal(t0.Add(3*time.Hour)) || len(tv.At) != 4 {
		t.Errorf("twin.at %v", tv.At)
	}
	if !tv.Has("wms.picked") || tv.Has("courier.delivered") || !tv.FirstAt("order.paid").Equal(t0.Add(time.Minute)) || !tv.FirstAt("x").IsZero() {
		t.Error("twin.has / firstAt")
	}
	f := env.Features
	if f.OrdersFromIP1h != 3 || f.MinutesSincePaid != 359 || f.MinutesSinceOutbound != 180 || f.MinutesInStage != 60 || f.LastCourierUpdateMinutes != 60 {
		t.Errorf("features %+v", f)
	}
	if !env.Now.Equal(now) || env.Now.Location() != Location || env.Now.Hour() != 16 {
		t.Errorf("now %v", env.Now)
	}

	// Expressions see the same.
	for _, x := range []string{
		`event.data.amount == 12.5 && event.recovered && event.system == "courier"`,
		`order.items[1].price == 0.99 && order.itemCount == 5 && len(order.items) == 2`,
		`twin.at.courier == event.at && now - twin.at.erp == duration("3h")`,
		`minutes(now - twin.firstAt("order.paid")) == features.minutesSincePaid`,
		`order.shipBy - now > duration("40h") && order.promisedBy > order.shipBy`,
		`now.Hour() == 16 && date("2025-11-11") < now`,
		`any(order.items, .sku == "B") && "B" in map(order.items, .sku)`,
		`twin.wms == "outbound" && twin.has("wms.outbound") && !twin.has("courier.delivered")`,
	} {
		p, err := Compile(rule(x))
		if err != nil {
			t.Errorf("%s: %v", x, err)
			continue
		}
		if ok, err := p.Eval(env); !ok || err != nil {
			t.Errorf("%s: %v %v", x, ok, err)
		}
	}
}

func TestNewEnvEdges(t *testing.T) {
	// No twin: built from the event alone.
	e := created()
	env := NewEnv(&e, nil, Features{}, t0.Add(2*time.Minute))
	if env.Order.Amount != 199 || env.Order.Stage != "CREATED" || env.Twin.Channel != "created" || !env.Twin.Has("order.created") {
		t.Errorf("env from the event alone: %+v", env.Order)
	}
	if f := env.Features; f.MinutesSincePaid != -1 || f.MinutesSinceOutbound != -1 || f.MinutesInStage != 2 || f.LastCourierUpdateMinutes != -1 {
		t.Errorf("features %+v", f)
	}
	// Nothing at all.
	env = NewEnv(nil, nil, Features{}, t0)
	if env.Event != nil || env.Twin.Has("order.created") || env.Features.MinutesInStage != -1 || env.Order.Receiver != (ReceiverEnv{}) {
		t.Errorf("empty env %+v", env)
	}
	// Clock skew: an event after now gives 0, not a negative number.
	env = NewEnv(nil, twinOf(created(), paid()), Features{}, t0)
	if env.Features.MinutesSincePaid != 0 {
		t.Errorf("minutesSincePaid %v", env.Features.MinutesSincePaid)
	}
	// The Env does not alias the twin's data.
	tw := twinOf(created())
	env = NewEnv(nil, tw, Features{}, t0)
	tw.Details.Receiver.Phone = "x"
	*tw.Details.ShipBy = t0
	if env.Order.Receiver.Phone != "13800138000" || env.Order.ShipBy.Equal(t0) {
		t.Error("Env aliases the twin")
	}
}
