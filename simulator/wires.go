package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/towerhq/tower/connectors/standard"
	"github.com/towerhq/tower/domain/order"
)

// StandardWire pushes canonical events, signed with Standard Webhooks, to
// POST /webhooks/{Source} (the brand's ERP or mini-program backend).
type StandardWire struct {
	Source string
	Secret string
}

func (w StandardWire) Request(ctx context.Context, base string, e order.Event, _ *Order, now time.Time) (*http.Request, error) {
	body, err := json.Marshal(standardEvent(e))
	if err != nil {
		return nil, err
	}
	id := "sim-" + e.ID
	sig, err := standard.Sign(w.Secret, id, now.Unix(), body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/webhooks/"+w.Source, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(standard.HeaderID, id)
	req.Header.Set(standard.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standard.HeaderSignature, sig)
	return req, nil
}

// standardEvent is the canonical JSON of the api contract.
func standardEvent(e order.Event) map[string]any {
	return map[string]any{
		"id": e.ID, "type": e.Kind, "occurredAt": e.OccurredAt.Format(time.RFC3339Nano), "system": e.System,
		"order": map[string]any{"channel": e.Order.Channel, "orderNo": e.Order.OrderNo}, "data": e.Data,
	}
}

// routeError is returned when a plan event has no route.
func routeError(e order.Event) error {
	return fmt.Errorf("%w: %s from %s on %s", ErrNoRoute, e.Kind, e.System, e.Order.Channel)
}
