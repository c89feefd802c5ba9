package server

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/graph/directives"
	"github.com/towerhq/tower/graph/model"
	"github.com/towerhq/tower/graph/resolvers"
	"github.com/towerhq/tower/internal/audit"
	"github.com/towerhq/tower/internal/storage"
)

// Export bounds the CSV export.
type Export struct {
	// MaxRows is the most orders one export writes (default 100,000).
	MaxRows int
	// StatementTimeout bounds each statement reading them (default 10 s);
	// Timeout the whole export (default 5 min).
	StatementTimeout, Timeout time.Duration
}

func (e *Export) defaults() {
	if e.MaxRows <= 0 {
		e.MaxRows = 100_000
	}
	if e.StatementTimeout <= 0 {
		e.StatementTimeout = 10 * time.Second
	}
	if e.Timeout <= 0 {
		e.Timeout = 5 * time.Minute
	}
}

// exportPolicy is the field whose @hasRole the export obeys: it writes what
// the orders query answers, so whoever may list orders may export them,
// and nobody else.
const exportPolicy = "Query.orders"

// exporter is GET /api/export/orders.csv: the orders of the orders query's
// filter (set, stage, stages, channel, shop, warehouse, from, to), within
// the caller's scopes, masked as the query masks them, streamed a chunk at
// a time, at most MaxRows, each export in the audit log. Authenticated like
// /graphql (guard): an API token, or the session cookie with its CSRF
// header.
type exporter struct {
	res    *resolvers.Resolver
	policy *directives.Policy
	o      Export
	log    *slog.Logger
}

func (e *exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := exportAllowed(w, r, e.policy, exportPolicy, "orders")
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(resolvers.WithOneOrder(r.Context()), e.o.Timeout)
	defer cancel()
	in, err := exportFilter(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f, err := e.res.OrderFilter(ctx, in)
	if err != nil {
		if field, msg, bad := resolvers.InputError(err); bad {
			http.Error(w, field+": "+msg, http.StatusBadRequest)
			return
		}
		e.log.ErrorContext(ctx, "export orders", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	tzName, tz, err := callerZone(ctx, e.res)
	if err != nil {
		e.log.ErrorContext(ctx, "export orders: time zone", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	subject := "orders " + describe(r.URL.Query())
	if resolvers.SeesPersonal(ctx) {
		subject += " (unmasked)"
	}
	// Recorded before the first row: no entry, no data.
	if err := audit.Record(ctx, e.res.DB, audit.Entry{At: time.Now(), Actor: p.Actor(), Action: "orders.exported", Subject: subject,
		Remote: audit.RemoteFrom(ctx)}); err != nil {
		e.log.ErrorContext(ctx, "export orders: audit", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}

	lang := exportLanguage(r.Header.Get("Accept-Language"))
	name := "orders"
	if in.Set != nil {
		name += "-" + strings.ToLower(string(*in.Set))
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, name, time.Now().In(tz).Format("20060102-150405")))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Export-Max-Rows", strconv.Itoa(e.o.MaxRows))
	w.Header().Set("Trailer", "X-Export-Rows, X-Export-Truncated")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	// A byte-order mark: spreadsheet programs then read the file as UTF-8.
	_, _ = bw.WriteString("\ufeff")
	cw := csv.NewWriter(bw)
	_ = cw.Write(exportHeader(lang, tzName))
	flusher, _ := w.(http.Flusher)
	n, truncated, err := e.res.Store.Each(ctx, f, storageEach(e.o), func(s events.TwinSnapshot) error {
		if err := cw.Write(exportRow(resolvers.OrderOf(ctx, s), tz)); err != nil {
			return err
		}
		cw.Flush()
		if bw.Buffered() > 16<<10 && flusher != nil {
			if err := bw.Flush(); err != nil {
				return err
			}
			flusher.Flush()
		}
		return cw.Error()
	})
	cw.Flush()
	if err != nil {
		// The status is sent: abort the response, so the client sees a
		// failed download rather than a short file that looks whole.
		e.log.ErrorContext(ctx, "export orders", "rows", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	_ = bw.Flush()
	w.Header().Set("X-Export-Rows", strconv.Itoa(n))
	w.Header().Set("X-Export-Truncated", strconv.FormatBool(truncated))
	if truncated {
		e.log.WarnContext(ctx, "export orders truncated", "rows", n, "max_rows", e.o.MaxRows)
	}
}

// exportAllowed answers 401 or 403 unless the caller's role may read field
// (whose @hasRole an export obeys); what names the export in the refusal.
func exportAllowed(w http.ResponseWriter, r *http.Request, policy *directives.Policy, field, what string) (access.Principal, bool) {
	p, ok := access.FromContext(r.Context())
	if !ok {
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return p, false
	}
	if policy == nil || !policy.Allows(field, p.Role) {
		http.Error(w, fmt.Sprintf("the %s role may not export %s (%s)", p.Role, what, field), http.StatusForbidden)
		return p, false
	}
	return p, true
}

// callerZone is the caller's time zone, its name and location (UTC when
// the name does not load).
func callerZone(ctx context.Context, res *resolvers.Resolver) (string, *time.Location, error) {
	name, err := res.TimeZone(ctx)
	if err != nil {
		return "", nil, err
	}
	tz, err := time.LoadLocation(name)
	if err != nil {
		tz = time.UTC
	}
	return name, tz, nil
}

func storageEach(o Export) storage.EachOptions {
	return storage.EachOptions{Max: o.MaxRows, Chunk: 500, StatementTimeout: o.StatementTimeout}
}

// exportFilter reads the orders filter from the query string.
func exportFilter(q url.Values) (*model.OrderFilter, error) {
	in := &model.OrderFilter{}
	str := func(k string) *string {
		v := strings.TrimSpace(q.Get(k))
		if v == "" {
			return nil
		}
		return &v
	}
	in.Channel, in.Shop, in.Warehouse = str("channel"), str("shop"), str("warehouse")
	for _, k := range []string{"from", "to"} {
		v := str(k)
		if v == nil {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, *v)
		if err != nil {
			return nil, fmt.Errorf("%s: want an RFC 3339 time, e.g. 2026-12-01T00:00:00+08:00", k)
		}
		if k == "from" {
			in.From = &t
		} else {
			in.To = &t
		}
	}
	if v := str("set"); v != nil {
		s := model.OrderSet(*v)
		if !s.IsValid() {
			return nil, fmt.Errorf("set: no set %q", *v)
		}
		in.Set = &s
	}
	stage := func(v string) (model.Stage, error) {
		s := model.Stage(strings.TrimSpace(v))
		if !s.IsValid() {
			return s, fmt.Errorf("stage: no stage %q", v)
		}
		return s, nil
	}
	if v := str("stage"); v != nil {
		s, err := stage(*v)
		if err != nil {
			return nil, err
		}
		in.Stage = &s
	}
	if v := str("stages"); v != nil {
		for _, x := range strings.Split(*v, ",") {
			s, err := stage(x)
			if err != nil {
				return nil, err
			}
			in.Stages = append(in.Stages, s)
		}
	}
	return in, nil
}

// describe is the filter as the audit log names it (no personal data: the
// filter holds none).
func describe(q url.Values) string {
	var parts []string
	for _, k := range []string{"set", "stage", "stages", "channel", "shop", "warehouse", "from", "to"} {
		if v := strings.TrimSpace(q.Get(k)); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

// exportLanguage is zh-CN unless the caller prefers English.
func exportLanguage(acceptLanguage string) string {
	first, _, _ := strings.Cut(acceptLanguage, ",")
	first, _, _ = strings.Cut(strings.TrimSpace(first), ";")
	if strings.HasPrefix(strings.ToLower(first), "en") {
		return "en-US"
	}
	return "zh-CN"
}

// exportColumns are the columns, zh-CN and en-US; times are in the caller's
// zone, which their headers name.
var exportColumns = []struct {
	zh, en string
	time   bool
}{
	{"渠道", "Channel", false},
	{"订单号", "Order no.", false},
	{"阶段", "Stage", false},
	{"店铺", "Shop", false},
	{"仓库", "Warehouse", false},
	{"快递公司", "Courier", false},
	{"运单号", "Tracking no.", false},
	{"金额", "Amount", false},
	{"币种", "Currency", false},
	{"收件人", "Receiver", false},
	{"电话", "Phone", false},
	{"省", "Province", false},
	{"市", "City", false},
	{"区", "District", false},
	{"地址", "Address", false},
	{"最晚发货", "Ship by", true},
	{"承诺送达", "Promised by", true},
	{"创建时间", "Created", true},
	{"更新时间", "Updated", true},
	{"标签", "Tags", false},
}

func exportHeader(lang, tz string) []string {
	out := make([]string, len(exportColumns))
	for i, c := range exportColumns {
		out[i] = c.zh
		if lang == "en-US" {
			out[i] = c.en
		}
		if c.time {
			out[i] += " (" + tz + ")"
		}
	}
	return out
}

func exportRow(o *model.Order, tz *time.Location) []string {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return cell(*p)
	}
	t := func(p *time.Time) string {
		if p == nil || p.IsZero() {
			return ""
		}
		return p.In(tz).Format("2006-01-02 15:04:05")
	}
	var rc model.Receiver
	if o.Receiver != nil {
		rc = *o.Receiver
	}
	amount := ""
	if o.Amount != nil {
		amount = *o.Amount
	}
	tags := make([]string, len(o.Tags))
	for i, x := range o.Tags {
		tags[i] = cell(x)
	}
	return []string{
		cell(o.Channel), cell(o.OrderNo), string(o.Stage), s(o.Shop), s(o.Warehouse), s(o.Courier), s(o.TrackingNo),
		amount, s(o.Currency), s(rc.Name), s(rc.Phone), s(rc.Province), s(rc.City), s(rc.District), s(rc.Address),
		t(o.ShipBy), t(o.PromisedBy), t(&o.CreatedAt), t(&o.UpdatedAt), strings.Join(tags, " "),
	}
}

// cell keeps a text a spreadsheet would run as a formula (=, +, -, @ first:
// buyers write names and addresses) a text.
func cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
