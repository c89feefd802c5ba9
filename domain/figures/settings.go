package figures

import (
	"fmt"
	"time"
)

// Version numbers the definitions of the counts. Changing what an order
// contributes changes it, and stored rollups of another version (or other
// Settings) are rebuilt from the twins.
const Version = 3 // 2: pre-summed scopes and business days; 3: and their minutes and open gauges

// Settings are the parameters of the counts.
type Settings struct {
	// Location is the business day's time zone: same-day shipping is
	// about its calendar days.
	Location *time.Location
	// Cutoff is the time of day (from local midnight) before which a paid
	// order must leave the warehouse the same day.
	Cutoff time.Duration
}

// Shanghai is Asia/Shanghai (UTC+8, no daylight saving since 1991),
// without reading the time zone database.
var Shanghai = time.FixedZone("Asia/Shanghai", 8*3600)

// DefaultSettings: Asia/Shanghai, a 16:00 cut-off.
func DefaultSettings() Settings { return Settings{Location: Shanghai, Cutoff: 16 * time.Hour} }

// Validate checks the cut-off lies within a day.
func (s Settings) Validate() error {
	if s.Location == nil {
		return fmt.Errorf("figures: no time zone")
	}
	if s.Cutoff <= 0 || s.Cutoff > 24*time.Hour {
		return fmt.Errorf("figures: cut-off %s is not within a day", s.Cutoff)
	}
	return nil
}

// Fingerprint names the counts these settings make: rollups built with
// another fingerprint are not comparable and must be rebuilt.
func (s Settings) Fingerprint() string {
	return fmt.Sprintf("v%d tz=%s cutoff=%s", Version, s.Location, s.Cutoff)
}
