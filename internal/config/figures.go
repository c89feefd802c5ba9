package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones without the system's database (containers often lack it)

	"github.com/towerhq/tower/domain/figures"
)

// Figures configures the fulfilment figures and the health index.
type Figures struct {
	// TimeZone is the business day's zone: same-day shipping, the views'
	// days and hours. Every node must count with the same one.
	TimeZone string `yaml:"time_zone"`
	// SameDayCutoff ("16:00", local time): orders paid before it must
	// leave the warehouse the same day.
	SameDayCutoff string `yaml:"same_day_cutoff"`
	// MinuteRetention is how long the per-minute rollups are kept (the
	// hourly ones stay); windows older than it are read by the hour.
	MinuteRetention time.Duration `yaml:"minute_retention"`
	// PushInterval coalesces figure and health subscriptions: at most one
	// push per interval per client.
	PushInterval time.Duration `yaml:"push_interval"`
	Health       Health        `yaml:"health"`
}

// Health configures the fulfilment health index (see the README).
type Health struct {
	// Window is the trailing stretch of time the index measures.
	Window time.Duration `yaml:"window"`
	// BacklogSLA is how long a paid order may wait in the warehouse before
	// it counts against the backlog-age component.
	BacklogSLA time.Duration `yaml:"backlog_sla"`
	// Components override the default goals, by component name; a key not
	// given keeps its default.
	Components map[string]HealthGoal `yaml:"components"`
}

// HealthGoal is one component's weight, target and zero (figures.Goal).
type HealthGoal struct {
	Weight *float64 `yaml:"weight"`
	Target *float64 `yaml:"target"`
	Zero   *float64 `yaml:"zero"`
}

func defaultFigures() Figures {
	return Figures{
		TimeZone: "Asia/Shanghai", SameDayCutoff: "16:00",
		MinuteRetention: 48 * time.Hour, PushInterval: 500 * time.Millisecond,
		Health: Health{Window: 24 * time.Hour, BacklogSLA: 24 * time.Hour},
	}
}

// Settings are what the rollups count with.
func (f Figures) Settings() (figures.Settings, error) {
	loc, err := time.LoadLocation(f.TimeZone)
	if err != nil || f.TimeZone == "" {
		return figures.Settings{}, fmt.Errorf("%q is not a time zone name like Asia/Shanghai", f.TimeZone)
	}
	cut, err := parseClock(f.SameDayCutoff)
	if err != nil {
		return figures.Settings{}, err
	}
	s := figures.Settings{Location: loc, Cutoff: cut}
	return s, s.Validate()
}

// Goals are the default goals with the configured overrides.
func (h Health) Goals() figures.Goals {
	g := figures.DefaultGoals()
	for name, o := range h.Components {
		c := g[name]
		if o.Weight != nil {
			c.Weight = *o.Weight
		}
		if o.Target != nil {
			c.Target = *o.Target
		}
		if o.Zero != nil {
			c.Zero = *o.Zero
		}
		g[name] = c
	}
	return g
}

// parseClock reads "HH:MM" as the time since midnight; "24:00" is the
// end of the day.
func parseClock(s string) (time.Duration, error) {
	hh, mm, ok := strings.Cut(strings.TrimSpace(s), ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m > 0) || (h == 0 && m == 0) {
		return 0, fmt.Errorf("%q is not a time of day from 00:01 to 24:00 (HH:MM)", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// check returns the figures section's problems, one per line.
func (f Figures) check() []error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("figures.%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if _, err := time.LoadLocation(f.TimeZone); err != nil || f.TimeZone == "" {
		bad("time_zone", "%q is not a time zone name like Asia/Shanghai", f.TimeZone)
	}
	if _, err := parseClock(f.SameDayCutoff); err != nil {
		bad("same_day_cutoff", "%v", err)
	}
	if f.MinuteRetention < 2*time.Hour {
		bad("minute_retention", "%s is below 2h (a window's partial hours are read by the minute)", f.MinuteRetention)
	}
	if f.PushInterval < 50*time.Millisecond {
		bad("push_interval", "%s is below 50ms", f.PushInterval)
	}
	if f.Health.Window < time.Hour || f.Health.Window > 31*24*time.Hour {
		bad("health.window", "%s is outside 1h..744h", f.Health.Window)
	}
	if f.Health.BacklogSLA <= 0 {
		bad("health.backlog_sla", "%s: want a positive duration", f.Health.BacklogSLA)
	}
	if err := f.Health.Goals().Validate(); err != nil {
		bad("health.components", "%s", strings.TrimPrefix(err.Error(), "figures: "))
	}
	return errs
}
