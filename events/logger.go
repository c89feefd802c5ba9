package events

import (
	"context"
	"errors"
	"strings"

	"github.com/ThreeDotsLabs/watermill"
)

// quietShutdown keeps Watermill's errors about a cancelled context (every
// subscriber reports one when the node shuts down) out of the error log.
type quietShutdown struct{ watermill.LoggerAdapter }

func (q quietShutdown) Error(msg string, err error, fields watermill.LogFields) {
	if errors.Is(err, context.Canceled) || (err != nil && strings.Contains(err.Error(), "context canceled")) {
		q.LoggerAdapter.Debug(msg+": "+err.Error(), fields)
		return
	}
	q.LoggerAdapter.Error(msg, err, fields)
}

func (q quietShutdown) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return quietShutdown{q.LoggerAdapter.With(fields)}
}
