package notifications

import "context"

// Prune runs the hourly clean-up of the outbox now (Run's ticker is an
// hour of real time).
func (d *Dispatcher) Prune(ctx context.Context) { d.prune(ctx) }
