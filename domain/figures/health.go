package figures

import (
	"fmt"
	"math"
)

// The health index components, by name.
const (
	OnTimeShipName     = "on_time_ship"
	OnTimeDeliveryName = "on_time_delivery"
	AbnormalName       = "abnormal_ratio"
	DivergenceName     = "open_divergences"
	BacklogAgeName     = "backlog_age"
)

// Components lists the component names in the order the index shows them.
var Components = []string{OnTimeShipName, OnTimeDeliveryName, AbnormalName, DivergenceName, BacklogAgeName}

// Goal is how one component is scored: a value at Target scores 1, at
// Zero (or beyond) 0, linearly in between. Target above Zero means higher
// is better (a rate of on-time orders); below, lower is better (a share of
// abnormal orders).
type Goal struct {
	Weight float64
	Target float64
	Zero   float64
}

// Goals are the components' goals by name.
type Goals map[string]Goal

// DefaultGoals are the weights and targets the README explains. Ship and
// delivery on time are what buyers feel first and weigh most; abnormal
// orders cost money and service work; divergences and an old backlog are
// what will become late tomorrow.
func DefaultGoals() Goals {
	return Goals{
		OnTimeShipName:     {Weight: 0.30, Target: 0.98, Zero: 0.80},
		OnTimeDeliveryName: {Weight: 0.25, Target: 0.95, Zero: 0.70},
		AbnormalName:       {Weight: 0.20, Target: 0.02, Zero: 0.20},
		DivergenceName:     {Weight: 0.10, Target: 0.00, Zero: 0.05},
		BacklogAgeName:     {Weight: 0.15, Target: 0.00, Zero: 0.20},
	}
}

// Validate checks every component has a goal that can be scored.
func (g Goals) Validate() error {
	var sum float64
	for _, name := range Components {
		c, ok := g[name]
		if !ok {
			return fmt.Errorf("figures: health component %s has no goal", name)
		}
		if c.Weight < 0 || math.IsNaN(c.Weight) || math.IsInf(c.Weight, 0) {
			return fmt.Errorf("figures: health component %s: weight %g is negative or not a number", name, c.Weight)
		}
		for _, v := range []float64{c.Target, c.Zero} {
			if v < 0 || v > 1 || math.IsNaN(v) {
				return fmt.Errorf("figures: health component %s: target and zero are shares, 0 to 1 (got %g)", name, v)
			}
		}
		if c.Target == c.Zero {
			return fmt.Errorf("figures: health component %s: target and zero are both %g", name, c.Target)
		}
		sum += c.Weight
	}
	for name := range g {
		if !known(name) {
			return fmt.Errorf("figures: %q is not a health component (known: on_time_ship, on_time_delivery, abnormal_ratio, open_divergences, backlog_age)", name)
		}
	}
	if sum <= 0 {
		return fmt.Errorf("figures: the health weights add up to %g; at least one must be positive", sum)
	}
	return nil
}

func known(name string) bool {
	for _, n := range Components {
		if n == name {
			return true
		}
	}
	return false
}

// HealthInputs are the measured shares the index is made of.
type HealthInputs struct {
	OnTimeShip     Rate
	OnTimeDelivery Rate
	Abnormal       Rate
	// Divergences: open orders with an open divergence alert (systems
	// disagree: paid but not in the WMS, ERP and WMS apart, out but not
	// collected), of the open orders.
	Divergences Rate
	// BacklogAge: paid orders still in the warehouse longer than the SLA,
	// of those still in the warehouse.
	BacklogAge Rate
}

// Component is one part of the index, shown with what it is made of.
type Component struct {
	Name string
	// Value is the measured share; Known is false when there was nothing
	// to measure (no order due, no backlog): then it takes no part.
	Value float64
	Known bool
	// Target and Zero are the goal (Goal); Weight is the share of the
	// index this component carries as computed: its configured weight over
	// the sum of the known components' weights (0 when not known).
	Target, Zero, Weight float64
	// Score is 0 (at or past Zero) to 1 (at or better than Target).
	Score float64
}

// Index is the fulfilment health index.
type Index struct {
	// Value is 0-100: 100 × Σ Weight × Score over the components.
	Value      float64
	Components []Component
}

// Health scores the inputs against the goals: each component scores
// (value − zero) / (target − zero), clamped to 0..1; the index is the
// weighted mean of the known components' scores, times 100. With nothing
// to measure at all it is 100: nothing is wrong that Tower can see.
func Health(in HealthInputs, g Goals) Index {
	rates := map[string]Rate{
		OnTimeShipName: in.OnTimeShip, OnTimeDeliveryName: in.OnTimeDelivery, AbnormalName: in.Abnormal,
		DivergenceName: in.Divergences, BacklogAgeName: in.BacklogAge,
	}
	var idx Index
	var wsum float64
	for _, name := range Components {
		goal := g[name]
		c := Component{Name: name, Target: goal.Target, Zero: goal.Zero}
		c.Value, c.Known = rates[name].Value()
		if c.Known {
			c.Score = Score(c.Value, goal)
			wsum += goal.Weight
		}
		idx.Components = append(idx.Components, c)
	}
	if wsum <= 0 {
		idx.Value = 100
		return idx
	}
	var sum float64
	for i := range idx.Components {
		c := &idx.Components[i]
		if c.Known {
			c.Weight = g[c.Name].Weight / wsum
			sum += c.Weight * c.Score
		}
	}
	idx.Value = math.Round(100*sum*10) / 10
	return idx
}

// Score is (v − zero) / (target − zero), clamped to 0..1.
func Score(v float64, g Goal) float64 {
	if g.Target == g.Zero {
		return 0
	}
	return min(max((v-g.Zero)/(g.Target-g.Zero), 0), 1)
}
