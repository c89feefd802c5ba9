package resolvers

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/alert"
	"github.com/towerhq/tower/domain/notify"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/rules"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/graph/model"
	"github.com/towerhq/tower/internal/alerts"
	"github.com/towerhq/tower/internal/detection"
	"github.com/towerhq/tower/internal/storage"
	"github.com/towerhq/tower/internal/workitems"
)

func (r *Resolver) setAlertState(ctx context.Context, id string, state alert.State) (*model.Alert, error) {
	n, err := parseID("id", id)
	if err != nil {
		return nil, err
	}
	// Outside the caller's scope an alert does not exist.
	if a, err := r.AlertStore.Alert(ctx, n); errors.Is(err, storage.ErrNotFound) || (err == nil && !r.visible(ctx, alertKey(a))) {
		return nil, &codedError{code: CodeNotFound, msg: "no alert " + id}
	} else if err != nil {
		return nil, err
	}
	out, err := r.change(ctx, func(tx bun.Tx) (detection.Outcome, error) {
		a, err := alerts.SetState(ctx, tx, n, state, viewerName(ctx), r.Time.Now())
		if err != nil {
			return detection.Outcome{}, err
		}
		return detection.Outcome{Alerts: []events.AlertSnapshot{a}}, nil
	})
	switch {
	case errors.Is(err, alerts.ErrNotFound):
		return nil, &codedError{code: CodeNotFound, msg: "no alert " + id}
	case errors.Is(err, alert.ErrResolved):
		return nil, &codedError{code: CodeConflict, msg: "the alert is already resolved"}
	case errors.As(err, new(*alert.TransitionError)):
		return nil, &codedError{code: CodeConflict, msg: err.Error()}
	case err != nil:
		return nil, err
	}
	return alertOf(out.Alerts[0]), nil
}

func (r *Resolver) alertStream(ctx context.Context, field string, want func(events.AlertSnapshot) bool) <-chan *model.Alert {
	in := r.Hub.SubscribeAlerts(ctx)
	out := make(chan *model.Alert, 16)
	r.Metrics.Subscriptions.WithLabelValues(field).Inc()
	go func() {
		defer close(out)
		defer r.Metrics.Subscriptions.WithLabelValues(field).Dec()
		for {
			select {
			case <-ctx.Done():
				return
			case a := <-in:
				if !want(a) {
					continue
				}
				select {
				case out <- alertOf(a):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

func alertKey(a events.AlertSnapshot) order.Key {
	return order.Key{Channel: a.Channel, OrderNo: a.OrderNo}
}

// orderView is an order shown inside another answer (an alert's, a work
// item's): in scope, and masked for cs, since it is not the one-order view.
func (r *Resolver) orderView(ctx context.Context, k order.Key) (*model.Order, error) {
	s, err := r.Store.Get(ctx, k)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && !twinInScope(ctx, s)) {
		return nil, &codedError{code: CodeNotFound, msg: "no order " + k.String()}
	}
	if err != nil {
		return nil, err
	}
	return orderOf(s, seesPersonal(ctx, false)), nil
}

// orderBatch reads the orders of one list of alerts or work items in one
// query, the first time the list's order field is resolved, instead of one
// query per row.
type orderBatch struct {
	r    *Resolver
	keys []order.Key
	once sync.Once
	got  map[order.Key]events.TwinSnapshot
	err  error
}

func (r *Resolver) orderBatch(keys []order.Key) *orderBatch { return &orderBatch{r: r, keys: keys} }

// Load answers as orderView does.
func (b *orderBatch) Load(ctx context.Context, channel, orderNo string) (*model.Order, error) {
	b.once.Do(func() { b.got, b.err = b.r.Store.GetMany(ctx, b.keys) })
	if b.err != nil {
		return nil, b.err
	}
	k := order.Key{Channel: channel, OrderNo: orderNo}
	s, ok := b.got[k]
	if !ok || !twinInScope(ctx, s) {
		return nil, &codedError{code: CodeNotFound, msg: "no order " + k.String()}
	}
	return orderOf(s, seesPersonal(ctx, false)), nil
}

func silenceOf(s storage.Silence) *model.Silence {
	return &model.Silence{ID: strconv.FormatInt(s.ID, 10), Rule: s.Rule, Scope: s.Scope, Until: s.Until, Reason: s.Reason, CreatedBy: s.CreatedBy}
}

// workItemChange changes one work item for the viewer, at the server's time.
type workItemChange func(ctx context.Context, tx bun.Tx, id int64, by string, now time.Time) (events.WorkItemSnapshot, error)

func (r *Resolver) updateWorkItem(ctx context.Context, id string, change workItemChange) (*model.WorkItem, error) {
	n, err := parseID("id", id)
	if err != nil {
		return nil, err
	}
	w, err := r.AlertStore.WorkItem(ctx, n)
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && !r.visible(ctx, order.Key{Channel: w.Channel, OrderNo: w.OrderNo})):
		return nil, &codedError{code: CodeNotFound, msg: "no work item " + id}
	case err != nil:
		return nil, err
	case !caller(ctx).Role.MayWork(w.Queue):
		return nil, &codedError{code: CodeForbidden, msg: "the " + caller(ctx).Role.String() + " role does not work the " + w.Queue + " queue"}
	}
	out, err := r.change(ctx, func(tx bun.Tx) (detection.Outcome, error) {
		w, err := change(ctx, tx, n, viewerName(ctx), r.Time.Now())
		if err != nil {
			return detection.Outcome{}, err
		}
		return detection.Outcome{WorkItems: []events.WorkItemSnapshot{w}}, nil
	})
	switch {
	case errors.Is(err, workitems.ErrNotFound):
		return nil, &codedError{code: CodeNotFound, msg: "no work item " + id}
	case errors.Is(err, workitems.ErrResolved):
		return nil, &codedError{code: CodeConflict, msg: "the work item is already resolved"}
	case err != nil:
		return nil, err
	}
	return workItemOf(out.WorkItems[0]), nil
}

// ruleFromInput fills the defaults of an edited rule.
func ruleFromInput(in model.RuleInput) (rules.Rule, error) {
	r := rules.Rule{Name: in.Name, Expression: in.Expression, Enabled: true, Actions: rules.Actions{Severity: rules.SeverityWarning}}
	if in.Description != nil {
		r.Description = *in.Description
	}
	for _, k := range in.On {
		r.On = append(r.On, order.Kind(k))
	}
	for _, k := range in.Until {
		r.Until = append(r.Until, order.Kind(k))
	}
	if in.After != nil && *in.After != "" {
		d, err := time.ParseDuration(*in.After)
		if err != nil {
			return r, badInput("after", "want a duration like 10m or 24h")
		}
		r.After = d
	}
	if in.DueExpr != nil {
		r.DueExpr = *in.DueExpr
	}
	r.Actions.Tags = in.Tags
	if in.Severity != nil {
		r.Actions.Severity = *in.Severity
	}
	if in.Queue != nil {
		r.Actions.Queue = *in.Queue
	}
	if in.Alert != nil {
		r.Actions.Alert = *in.Alert
	}
	if in.Kind != nil {
		r.Actions.Kind = *in.Kind
	}
	if in.Enabled != nil {
		r.Enabled = *in.Enabled
	}
	return r, nil
}

// ruleError gives rule problems to the editor: compile errors with line and
// column, validation errors with the field.
func ruleError(err error) error {
	var ce *rules.CompileError
	var ve *rules.ValidationError
	switch {
	case errors.As(err, &ce):
		return &codedError{code: CodeBadUserInput, msg: ce.Error(), field: ce.Field, line: ce.Line, column: ce.Column}
	case errors.As(err, &ve):
		field := ""
		if len(ve.Fields) > 0 {
			field = ve.Fields[0].Field
		}
		return &codedError{code: CodeBadUserInput, msg: ve.Error(), field: field}
	case errors.Is(err, detection.ErrNotFound):
		return &codedError{code: CodeNotFound, msg: "no such rule"}
	case errors.Is(err, detection.ErrBacktestBusy):
		return &codedError{code: CodeBusy, msg: "other backtests are running on this node; try again in a moment"}
	}
	return err
}

// maskURL hides a robot URL's key or token (its query values).
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "***"
	}
	q := u.Query()
	for k := range q {
		q.Set(k, "***")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func channelOf(c notify.Channel, origin string) *model.NotificationChannel {
	return &model.NotificationChannel{Name: c.Name, Type: c.Type, WebhookURL: maskURL(c.WebhookURL), Signed: c.Secret != "",
		Mentions: nonNilStrings(c.Mentions), MentionMobiles: nonNilStrings(c.MentionMobile), Origin: origin}
}

func routeOf(r storage.RouteRow, origin string) *model.NotificationRoute {
	return &model.NotificationRoute{ID: strconv.FormatInt(r.ID, 10), Channel: r.Channel, MinSeverity: r.MinSeverity,
		Kinds: nonNilStrings(r.Kinds), Scopes: nonNilStrings(r.Scopes), Origin: origin}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func overrideOf(o detection.Override) *model.DeadlineOverride {
	return &model.DeadlineOverride{ID: strconv.FormatInt(o.ID, 10), Rule: o.Rule, ScopeKind: o.ScopeKind, ScopeValue: o.ScopeValue, After: o.After.String()}
}

// parkedError is the client's error for a retry or discard of parked
// message id that failed.
func parkedError(err error, id string) error {
	switch {
	case errors.Is(err, events.ErrParkedNotFound):
		return &codedError{code: CodeNotFound, msg: "no parked message " + id}
	case errors.As(err, new(*events.ResolvedError)), errors.As(err, new(*events.NotRetriableError)):
		return &codedError{code: CodeConflict, msg: err.Error()}
	}
	return err
}

// robotTypes maps each configured robot to its type (wecom, dingtalk):
// those of the configuration file and those added through the API.
func (r *Resolver) robotTypes(ctx context.Context) (map[string]string, error) {
	out := make(map[string]string, len(r.NotifyFile.Channels))
	for _, c := range r.NotifyFile.Channels {
		out[c.Name] = c.Type
	}
	cs, err := r.NotifyStore.Channels(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		out[c.Name] = c.Type
	}
	return out, nil
}
