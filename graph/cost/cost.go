// Package cost prices GraphQL fields by the work they cause, so the
// complexity limit bounds real work: a list costs its page size times what
// is asked of each element, a field that queries the database costs more
// than one read from memory, and a backtest (which replays a stretch of
// history) costs most of a query's whole budget. Aliases are priced one by
// one, so a query cannot multiply a backtest by repeating it under many
// names.
package cost

import (
	"time"

	"github.com/towerhq/tower/graph/generated"
	"github.com/towerhq/tower/graph/model"
)

const (
	// Limit is the budget of one operation: a full page (500) of a wide
	// row fits; a full page of orders with their timelines does not.
	Limit = 10000
	// Backtest is the price of one backtestRule: more than half the
	// budget, so one query holds at most one.
	Backtest = 6000
	// query is the price of a field that runs its own database query.
	query = 10
	// defaultPage is a list's size when the caller does not say (the
	// schema's default), maxPage the most the resolvers accept.
	defaultPage, maxPage = 50, 500
	// rulesListed is the assumed length of the rule list: the defaults
	// and a brand's own, a few dozen.
	rulesListed = 30
	// perOrder is the assumed length of an order's small lists (timeline,
	// systems, alerts): short for nearly every order.
	perOrder = 10
	// lookupPage and maxLookup are orderLookup's default and largest page.
	lookupPage, maxLookup = 20, 100
	// figuresQueries is what one window of figures reads (rollups, hours,
	// open gauges, divergences, abnormal orders, detection times,
	// lookups); healthQueries what the index reads.
	figuresQueries = 7 * query
	healthQueries  = 4 * query
	// windowHours is the longest hourly series (a 7-day window); stages
	// the stages a backlog lists; throughputListed the station and packer
	// lists together; systemListed the sources, handlers or topics of a
	// node.
	windowHours      = 7 * 24
	stages           = 14
	throughputListed = 200
	systemListed     = 30
	healthComponents = 5
)

// page prices a list of first elements (defaulted and clamped as the
// resolvers do; out-of-range values are refused there, with a message).
func page(first *int, child int) int {
	n := defaultPage
	if first != nil {
		n = min(max(*first, 1), maxPage)
	}
	return query + n*max(child, 1)
}

func list(child int) int { return perOrder * max(child, 1) }

func dbField(child int) int { return query + child }

// Complexity returns the prices for generated.Config.
func Complexity() generated.ComplexityRoot {
	var c generated.ComplexityRoot
	c.Query.Orders = func(child int, _ *model.OrderFilter, first *int, _ *string) int { return page(first, child) }
	c.Query.Alerts = func(child int, first *int, _ *string, _ *model.AlertState, _ *time.Time, _ *string) int {
		return page(first, child)
	}
	c.Query.Incidents = func(child int, _ *model.IncidentState, first *int, _ *string) int { return page(first, child) }
	c.Query.Incident = func(child int, _ string) int { return dbField(child) }
	c.Incident.Alerts = func(child int, first *int, _ *string) int { return page(first, child) }
	c.Query.WorkItems = func(child int, _ string, _ *string, first *int, _, _ *string) int { return page(first, child) }
	c.Query.PoisonMessages = func(child int, _, _ *string, first *int, _ *string) int { return page(first, child) }
	c.Query.BacktestRule = func(child int, _ model.RuleInput, _, _ time.Time, _ *int) int { return Backtest + child }
	c.Query.Order = func(child int, _, _ string) int { return dbField(child) }
	c.Query.OrderByID = func(child int, _ string) int { return dbField(child) }
	c.Query.Rules = func(child int) int { return query + rulesListed*max(child, 1) }
	c.Query.RuleVersions = func(child int, _ string) int { return query + rulesListed*max(child, 1) }
	c.Order.Timeline = list
	c.Order.Systems = list
	c.Order.Alerts = func(child int) int { return query + list(child) }
	c.Alert.Order = dbField
	c.WorkItem.Order = dbField
	c.WorkItem.Notes = list
	c.Rule.HitsByHour = func(child int) int { return query + 24*max(child, 1) }

	c.Query.OrderLookup = func(child int, _ string, _ *string, first *int) int {
		n := lookupPage
		if first != nil {
			n = min(max(*first, 1), maxLookup)
		}
		return 3*query + n*max(child, 1)
	}
	c.Query.FulfillmentHealth = func(child int, _, _ *string) int { return healthQueries + child }
	c.Subscription.FulfillmentHealthChanged = func(child int, _, _ *string) int { return healthQueries + child }
	c.Query.Figures = func(child int, _, _ time.Time, _, _, _, _ *string) int { return figuresQueries + child }
	c.Subscription.FiguresChanged = func(child int, _ time.Time, _ *time.Time, _, _, _, _ *string) int {
		return figuresQueries + child
	}
	c.Query.SystemFigures = func(child int, _, _ *time.Time, _ *string) int { return 3*query + child }
	c.Health.Components = func(child int) int { return healthComponents * max(child, 1) }
	c.Figures.Backlog = func(child int) int { return stages * max(child, 1) }
	c.Figures.Throughput = func(child int) int { return throughputListed * max(child, 1) }
	c.Figures.Hours = func(child int) int { return windowHours * max(child, 1) }
	c.FigureHour.Backlog = func(child int) int { return stages * max(child, 1) }
	c.SystemFigures.Connectors = func(child int) int { return systemListed * max(child, 1) }
	c.SystemFigures.Handlers = func(child int) int { return systemListed * max(child, 1) }
	c.SystemFigures.Topics = func(child int) int { return systemListed * max(child, 1) }
	// Every connector's trend comes from one statement with the figures
	// (systemFigures' 3 queries), at most 120 points of plain numbers.
	c.ConnectorFigures.Trend = func(child int) int { return max(child, 1) }
	// The role views' additions (views.graphqls): the delivery log pages
	// like the poison queue; the rules firing most read the alerts and the
	// hourly counters; queue sizes are one row per queue.
	c.Query.RobotDeliveries = func(child int, _, _ *string, first *int, _ *string) int { return 2*query + page(first, child) }
	c.Query.TopRules = func(child int, _, _ time.Time, _, _ *string, first *int) int {
		n := 10
		if first != nil {
			n = min(max(*first, 1), 100)
		}
		return 2*query + n*max(child, 1)
	}
	c.Query.WorkQueueSizes = func(child int, _, _ *string) int { return query + 4*max(child, 1) }
	return c
}
