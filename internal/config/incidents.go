package config

import (
	"time"

	"github.com/towerhq/tower/domain/incident"
)

// Incidents are the thresholds grouping alerts that share a cause into
// incidents (see domain/incident); zero values take its defaults.
type Incidents struct {
	MinMembers        int           `yaml:"min_members"`
	Window            time.Duration `yaml:"window"`
	Quiet             time.Duration `yaml:"quiet"`
	SignatureFailures int           `yaml:"signature_failures"`
	SilenceFactor     float64       `yaml:"silence_factor"`
	MinSilence        time.Duration `yaml:"min_silence"`
	Lookback          time.Duration `yaml:"lookback"`
	// CheckEvery is how often quiet periods, signatures and silence are
	// checked (default 15s).
	CheckEvery time.Duration `yaml:"check_every"`
}

// Config is the domain's view of the thresholds.
func (i Incidents) Config() incident.Config {
	return incident.Config{MinMembers: i.MinMembers, Window: i.Window, Quiet: i.Quiet, SignatureFailures: i.SignatureFailures,
		SilenceFactor: i.SilenceFactor, MinSilence: i.MinSilence, Lookback: i.Lookback}
}
