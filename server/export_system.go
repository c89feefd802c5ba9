package server

import (
	"encoding/csv"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/graph/directives"
	"github.com/towerhq/tower/graph/model"
	"github.com/towerhq/tower/graph/resolvers"
	"github.com/towerhq/tower/internal/audit"
)

// systemExportPolicy: the IT export writes what systemFigures answers.
const systemExportPolicy = "Query.systemFigures"

// systemExporter is GET /api/export/system.csv: the IT view's connector and
// handler figures of its range and channel (from, to, channel as
// systemFigures takes them), one row each, recorded in the audit log. It
// holds no personal data.
type systemExporter struct {
	res    *resolvers.Resolver
	policy *directives.Policy
	log    *slog.Logger
}

func (e *systemExporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := exportAllowed(w, r, e.policy, systemExportPolicy, "the IT figures")
	if !ok {
		return
	}
	q := r.URL.Query()
	in, err := exportFilter(q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	sys, err := e.res.SystemFigures(ctx, in.From, in.To, in.Channel)
	if err != nil {
		if field, msg, bad := resolvers.InputError(err); bad {
			http.Error(w, field+": "+msg, http.StatusBadRequest)
			return
		}
		e.log.ErrorContext(ctx, "export system figures", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	tzName, tz, err := callerZone(ctx, e.res)
	if err != nil {
		e.log.ErrorContext(ctx, "export system figures: time zone", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := audit.Record(ctx, e.res.DB, audit.Entry{At: time.Now(), Actor: p.Actor(), Action: "system.exported",
		Subject: "system figures " + describe(q), Remote: audit.RemoteFrom(ctx)}); err != nil {
		e.log.ErrorContext(ctx, "export system figures: audit", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	lang := exportLanguage(r.Header.Get("Accept-Language"))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="system-%s.csv"`, time.Now().In(tz).Format("20060102-150405")))
	w.Header().Set("Cache-Control", "no-store")
	var b strings.Builder
	b.WriteString("\ufeff")
	cw := csv.NewWriter(&b)
	_ = cw.Write(systemHeader(lang, tzName))
	for _, row := range systemRows(sys, tz, lang) {
		_ = cw.Write(row)
	}
	cw.Flush()
	w.Header().Set("X-Export-Rows", strconv.Itoa(len(sys.Connectors)+len(sys.Handlers)))
	_, _ = w.Write([]byte(b.String()))
}

// systemColumns: a row is a connector (requests, success, latency,
// signature failures) or a bus handler (messages, failures, parked, lag),
// over the range From–To.
var systemColumns = []struct{ zh, en string }{
	{"类别", "Kind"},
	{"名称", "Name"},
	{"类型", "Type"},
	{"渠道", "Channel"},
	{"起始", "From"},
	{"截止", "To"},
	{"请求/消息数", "Requests / messages"},
	{"成功数", "Succeeded"},
	{"成功率", "Success rate"},
	{"签名失败/处理失败", "Signature failures / failures"},
	{"转入死信", "Parked"},
	{"每分钟请求", "Requests per minute"},
	{"延迟 P50 (秒)", "Latency p50 (s)"},
	{"延迟 P90 (秒)", "Latency p90 (s)"},
}

func systemHeader(lang, tz string) []string {
	out := make([]string, len(systemColumns))
	for i, c := range systemColumns {
		out[i] = c.zh
		if lang == "en-US" {
			out[i] = c.en
		}
		if i == 4 || i == 5 {
			out[i] += " (" + tz + ")"
		}
	}
	return out
}

func systemRows(s *model.SystemFigures, tz *time.Location, lang string) [][]string {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	num := func(p *float64, digits int) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'f', digits, 64)
	}
	from, to := s.From.In(tz).Format(time.DateTime), s.To.In(tz).Format(time.DateTime)
	connector, handler := "接口", "总线处理器"
	if lang == "en-US" {
		connector, handler = "connector", "bus handler"
	}
	var rows [][]string
	for _, c := range s.Connectors {
		rate := c.RatePerMinute
		rows = append(rows, []string{connector, c.Source, str(c.Type), str(c.Channel), from, to,
			strconv.Itoa(c.Requests), strconv.Itoa(c.Succeeded), num(c.SuccessRate, 4), strconv.Itoa(c.SignatureFailures), "",
			num(&rate, 2), num(c.LatencyP50, 3), num(c.LatencyP90, 3)})
	}
	for _, h := range s.Handlers {
		var rate *float64
		if h.Messages+h.Failures > 0 {
			v := float64(h.Messages) / float64(h.Messages+h.Failures)
			rate = &v
		}
		rows = append(rows, []string{handler, h.Handler, "", "", from, to,
			strconv.Itoa(h.Messages), strconv.Itoa(h.Messages), num(rate, 4), strconv.Itoa(h.Failures), strconv.Itoa(h.Poisoned),
			"", num(h.LagP50, 3), num(h.LagP90, 3)})
	}
	return rows
}
