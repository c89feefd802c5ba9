package notifications

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Messages are shown in China Standard Time.
var cst = time.FixedZone("CST", 8*3600)

const (
	maxSummaryBytes = 160
	digestSamples   = 2
)

var scopePrefixes = []struct{ prefix, label string }{
	{"warehouse:", "仓库 "},
	{"channel:", "渠道 "},
	{"carrier:", "快递 "},
	{"store:", "店铺 "},
}

func scopeLabel(scope string) string {
	for _, p := range scopePrefixes {
		if rest, ok := strings.CutPrefix(scope, p.prefix); ok {
			return p.label + rest
		}
	}
	return scope
}

func (d *Dispatcher) ruleTitle(rule string) string {
	if t := d.opts.RuleTitles[rule]; t != "" {
		return t
	}
	return rule
}

// headline is "【严重】出库未揽收 ×1,234 (仓库 GZ-03)".
func (d *Dispatcher) headline(g *group) string {
	if g.key.incident != "" {
		return plain(g.title)
	}
	label := SeverityLabel(g.severity)
	if g.key.escalation {
		label += "·升级"
	}
	s := fmt.Sprintf("【%s】%s ×%s", label, plain(d.ruleTitle(g.key.rule)), Thousands(g.count))
	if g.key.scope != "" {
		s += " (" + plain(scopeLabel(g.key.scope)) + ")"
	}
	return s
}

// renderGroup is the message for one group:
//
//	title: 【严重】出库未揽收 ×1,234 (仓库 GZ-03)
//	> 共 **1,234** 单 · 仓库 GZ-03 · 规则 outbound_not_collected (late_ship) · 11-25 10:00:03 至 10:00:58
//
//	- [tmall/123](https://…) 出库 26 小时未揽收
//	- …
//	- 另有 1,229 单未列出
func (d *Dispatcher) renderGroup(g *group) Message {
	if g.key.incident != "" {
		return Message{Title: g.title, Markdown: g.body, Severity: g.severity}
	}
	var b strings.Builder
	if g.key.escalation {
		fmt.Fprintf(&b, "> **已 %s无人确认,请立即处理**\n\n", humanDuration(d.opts.EscalateAfter))
	}
	facts := []string{"共 **" + Thousands(g.count) + "** 单"}
	if g.key.scope != "" {
		facts = append(facts, plain(scopeLabel(g.key.scope)))
	}
	rule := "规则 " + plain(g.key.rule)
	if g.kind != "" {
		rule += " (" + plain(g.kind) + ")"
	}
	facts = append(facts, rule, timeRange(g.first, g.last))
	b.WriteString("> " + strings.Join(facts, " · ") + "\n\n")
	writeSamples(&b, g, len(g.samples))
	return Message{
		Title:      d.headline(g),
		Markdown:   strings.TrimRight(b.String(), "\n"),
		Severity:   g.severity,
		MentionAll: g.key.escalation,
	}
}

// renderDigest merges several groups into one message when the robot's
// rate limit has no room for one message each:
//
//	title: 【严重】告警汇总 ×5,000 (3 组)
//	**【严重】出库未揽收 ×4,000 (仓库 GZ-03)**
//	- [tmall/1](…) …
//	- 另有 3,998 单未列出
//
//	**…**
//
//	> 机器人限流 20 条/分钟,以上告警已合并发送
func (d *Dispatcher) renderDigest(gs []*group) Message {
	var b strings.Builder
	total, sev, escalation := 0, "", false
	for _, g := range gs {
		total += g.count
		if SeverityRank(g.severity) > SeverityRank(sev) || sev == "" {
			sev = g.severity
		}
		escalation = escalation || g.key.escalation
		d.writeDigestSection(&b, g)
	}
	fmt.Fprintf(&b, "> 机器人限流 %d 条/分钟,以上告警已合并发送", d.opts.RatePerMinute)
	label := SeverityLabel(sev)
	if escalation {
		label += "·升级"
	}
	return Message{
		Title:      fmt.Sprintf("【%s】告警汇总 ×%s (%d 组)", label, Thousands(total), len(gs)),
		Markdown:   b.String(),
		Severity:   sev,
		MentionAll: escalation,
	}
}

func (d *Dispatcher) writeDigestSection(b *strings.Builder, g *group) {
	b.WriteString("**" + d.headline(g) + "**\n")
	writeSamples(b, g, min(digestSamples, len(g.samples)))
	b.WriteString("\n")
}

// digestParts splits groups into digests that fit the channel's byte
// budget (a group too big alone gets a part of its own; the channel cuts
// it).
func (d *Dispatcher) digestParts(ch Channel, groups []*group) [][]*group {
	budget := ch.MaxBytes() - min(ch.MaxBytes()/4, 600) // room for title, footer and mentions
	var parts [][]*group
	var cur []*group
	size := 0
	for _, g := range groups {
		var b strings.Builder
		d.writeDigestSection(&b, g)
		n := b.Len()
		if len(cur) > 0 && size+n > budget {
			parts = append(parts, cur)
			cur, size = nil, 0
		}
		cur = append(cur, g)
		size += n
	}
	if len(cur) > 0 {
		parts = append(parts, cur)
	}
	return parts
}

func writeSamples(b *strings.Builder, g *group, n int) {
	for _, a := range g.samples[:n] {
		b.WriteString("- " + sampleLine(a) + "\n")
	}
	if rest := g.count - n; rest > 0 && n > 0 {
		b.WriteString("- 另有 " + Thousands(rest) + " 单未列出\n")
	}
}

func sampleLine(a Alert) string {
	ref := plain(strings.NewReplacer("[", "(", "]", ")").Replace(a.Order))
	if ref == "" {
		ref = "#" + strconv.FormatInt(a.ID, 10)
	}
	if link := safeLink(a.Link); link != "" {
		ref = "[" + ref + "](" + link + ")"
	}
	if s := plain(a.Summary); s != "" {
		ref += " " + FitUTF8(s, maxSummaryBytes, "…")
	}
	return ref
}

// plain makes alert text safe inside a message: one line, and no "<" or ">"
// that WeCom would read as a tag or a mention.
func plain(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.NewReplacer("<", "＜", ">", "＞").Replace(s)
}

func safeLink(link string) string {
	if !strings.HasPrefix(link, "https://") && !strings.HasPrefix(link, "http://") {
		return ""
	}
	if strings.ContainsAny(link, " \t\r\n()<>") {
		return ""
	}
	return link
}

func timeRange(first, last time.Time) string {
	f, l := first.In(cst), last.In(cst)
	s := f.Format("01-02 15:04:05")
	if l.Sub(f) < time.Second {
		return s
	}
	if l.YearDay() == f.YearDay() && l.Year() == f.Year() {
		return s + " 至 " + l.Format("15:04:05")
	}
	return s + " 至 " + l.Format("01-02 15:04:05")
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " 小时"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + " 分钟"
	}
	return d.String()
}

var causeTitles = map[string]string{
	"courier_stopped":    "快递停止揽收",
	"signature_failures": "接口验签失败",
	"channel_silent":     "渠道无消息",
}

// renderIncident is an incident's message:
//
//	title: 【事件·严重】快递停止揽收 HZ-01/SF
//	> 影响 **1,234** 单 · 店铺 3 家 · 金额 ¥123,456.00 · 渠道 tmall、douyin
//	> 开始 11-25 21:30:00 · 最近 22:10:05 · 告警 1,240 条
//
//	后续同因告警已并入此事件，不再逐条发送。
func (d *Dispatcher) renderIncident(in Incident) Message {
	cause := causeTitles[in.Cause]
	if cause == "" {
		cause = in.Cause
	}
	label := "事件·" + SeverityLabel(in.Severity)
	if in.Event == "resolved" {
		label = "事件已恢复"
	}
	var b strings.Builder
	var facts []string
	if in.Orders > 0 {
		facts = append(facts, "影响 **"+Thousands(in.Orders)+"** 单", "店铺 "+strconv.Itoa(len(in.Shops))+" 家", "金额 ¥"+yuan(in.Money))
	}
	if len(in.Channels) > 0 {
		facts = append(facts, "渠道 "+plain(strings.Join(in.Channels, "、")))
	}
	if len(facts) > 0 {
		b.WriteString("> " + strings.Join(facts, " · ") + "\n")
	}
	what := "告警 " + Thousands(in.Members) + " 条"
	if in.Cause == "signature_failures" {
		what = "验签失败 " + Thousands(in.Members) + " 次"
	}
	seen := "开始 " + in.Start.In(cst).Format("01-02 15:04:05")
	if !in.LastSeen.IsZero() {
		seen += " · 最近 " + in.LastSeen.In(cst).Format("01-02 15:04:05")
	}
	if in.Cause != "channel_silent" {
		seen += " · " + what
	}
	b.WriteString("> " + seen + "\n\n")
	switch {
	case in.Event == "resolved" && in.ResolvedBy != "":
		b.WriteString("已恢复（" + plain(in.ResolvedBy) + "）")
	case in.Event == "resolved":
		b.WriteString("已恢复")
	default:
		b.WriteString("后续同因告警已并入此事件，不再逐条发送。")
	}
	if link := safeLink(in.Link); link != "" {
		b.WriteString("\n\n[查看事件](" + link + ")")
	}
	return Message{
		Title:    fmt.Sprintf("【%s】%s %s", label, cause, plain(in.Key)),
		Markdown: b.String(),
		Severity: in.Severity,
	}
}

// yuan writes fen as yuan with thousands separators: 12345678 → "123,456.78".
func yuan(fen int64) string {
	return Thousands(int(fen/100)) + fmt.Sprintf(".%02d", fen%100)
}

// Thousands formats n with thousands separators: 1234 → "1,234".
func Thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
