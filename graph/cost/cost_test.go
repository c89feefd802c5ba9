package cost

import (
	"testing"
	"time"

	"github.com/towerhq/tower/graph/model"
)

// TestPage: a list costs its page (defaulted and clamped as the resolvers
// do) times what each element asks for.
func TestPage(t *testing.T) {
	n := func(v int) *int { return &v }
	tests := []struct {
		name  string
		first *int
		child int
		want  int
	}{
		{"default page", nil, 3, query + defaultPage*3},
		{"small page", n(20), 10, query + 20*10},
		{"clamped to the most the resolvers give", n(1_000_000), 2, query + maxPage*2},
		{"nonsense is priced as one", n(-5), 4, query + 4},
		{"an empty selection still costs", n(10), 0, query + 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := page(tt.first, tt.child); got != tt.want {
				t.Errorf("page = %d, want %d", got, tt.want)
			}
		})
	}
	// One backtest fits a query; two never do, whatever else is asked.
	c := Complexity()
	one := c.Query.BacktestRule(1, model0(), t0, t0, nil)
	if one > Limit || 2*one <= Limit {
		t.Errorf("backtest costs %d of %d", one, Limit)
	}
}

// A whole window of figures, every field asked, fits one query; a second
// whole one does not (the views ask a comparison window without its hours).
func TestFiguresFit(t *testing.T) {
	c := Complexity()
	hour := 5 + c.FigureHour.Backlog(2)
	child := 25 + 7*3 + 5*3 + c.Figures.Hours(hour) + c.Figures.Backlog(5) + c.Figures.Throughput(4)
	one := c.Query.Figures(child, t0, t0, nil, nil, nil, nil)
	if one > Limit || 2*one <= Limit {
		t.Errorf("a whole window of figures costs %d of %d", one, Limit)
	}
	n := 1000
	if got := c.Query.OrderLookup(10, "", nil, &n); got != 3*query+maxLookup*10 {
		t.Errorf("a lookup page is clamped as the resolver clamps it: %d", got)
	}
}

var t0 = time.Time{}

func model0() model.RuleInput { return model.RuleInput{} }

// The IT view's one poll (system figures, a page of the poison queue and
// one of the robot delivery log, every field) fits one query.
func TestITViewFits(t *testing.T) {
	c := Complexity()
	sys := c.Query.SystemFigures(3+c.SystemFigures.Connectors(9+c.ConnectorFigures.Trend(4))+c.SystemFigures.Handlers(6)+c.SystemFigures.Topics(4), nil, nil, nil)
	total := sys + c.Query.PoisonMessages(11, nil, nil, nil, nil) + c.Query.RobotDeliveries(13, nil, nil, nil, nil)
	if total > Limit {
		t.Errorf("the IT view's poll costs %d of %d", total, Limit)
	}
	big := 1000
	if got := c.Query.TopRules(6, t0, t0, nil, nil, &big); got != 2*query+100*6 {
		t.Errorf("topRules is clamped as the resolver clamps it: %d", got)
	}
}
