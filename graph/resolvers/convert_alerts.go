package resolvers

import (
	"strconv"

	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/graph/model"
	"github.com/towerhq/tower/internal/detection"
)

func alertOf(a events.AlertSnapshot) *model.Alert {
	m := &model.Alert{
		ID: strconv.FormatInt(a.ID, 10), Rule: a.Rule, Kind: a.Kind, Severity: a.Severity, State: model.AlertState(a.State),
		Scope: a.Scope, Summary: a.Summary, ConditionSince: a.ConditionSince, RaisedAt: a.RaisedAt,
		AcknowledgedAt: a.AcknowledgedAt, ResolvedAt: a.ResolvedAt, Channel: a.Channel, OrderNo: a.OrderNo,
	}
	if a.AcknowledgedBy != "" {
		m.AcknowledgedBy = &a.AcknowledgedBy
	}
	if a.ResolvedBy != "" {
		m.ResolvedBy = &a.ResolvedBy
	}
	return m
}

func workItemOf(w events.WorkItemSnapshot) *model.WorkItem {
	m := &model.WorkItem{
		ID: strconv.FormatInt(w.ID, 10), Queue: w.Queue, Rule: w.Rule, Status: w.Status, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
		Channel: w.Channel, OrderNo: w.OrderNo, Notes: []*model.WorkNote{},
	}
	if w.Assignee != "" {
		m.Assignee = &w.Assignee
	}
	for _, n := range w.Notes {
		m.Notes = append(m.Notes, &model.WorkNote{At: n.At, By: n.By, Text: n.Text})
	}
	return m
}

func ruleOf(rec detection.RuleRecord) *model.Rule {
	r := rec.Rule
	m := &model.Rule{
		Name: r.Name, Description: r.Description, Expression: r.Expression, On: []string{}, Until: []string{},
		Tags: append([]string{}, r.Actions.Tags...), Severity: r.Actions.Severity, Alert: r.Actions.Alert, Kind: r.Actions.Kind,
		Enabled: r.Enabled, Version: r.Version, UpdatedAt: rec.UpdatedAt, UpdatedBy: rec.UpdatedBy,
	}
	if rec.DisabledReason != "" {
		m.DisabledReason = &rec.DisabledReason
	}
	for _, k := range r.On {
		m.On = append(m.On, string(k))
	}
	for _, k := range r.Until {
		m.Until = append(m.Until, string(k))
	}
	if r.After > 0 {
		a := r.After.String()
		m.After = &a
	}
	if r.DueExpr != "" {
		m.DueExpr = &r.DueExpr
	}
	if r.Actions.Queue != "" {
		m.Queue = &r.Actions.Queue
	}
	return m
}

func parseID(field, id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return 0, badInput(field, "not a valid id")
	}
	return n, nil
}
