package notifications

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"
)

// leaseClass is the first key of the advisory locks that make one
// dispatcher at a time, on any node, the sender of a channel ("noty").
const leaseClass = 0x6e6f7479

// dbTimeout bounds the writes that record a robot's answer; they run even
// while shutting down, since the message has gone.
const dbTimeout = 10 * time.Second

// step is one channel's share of a Flush. Under the channel's lease it
// silences, groups and sends what is due, as the robot's rate allows, and
// returns when the channel next needs attention (zero: nothing pending).
//
// Exactly once: a message's rows are locked (FOR UPDATE SKIP LOCKED) in a
// transaction of their own, the robot is called, and the rows are marked
// with its answer in that same transaction. Rows another transaction holds
// are not sent, and rows once marked are never sent again. What can repeat
// is a message whose robot answered OK while the commit failed or the node
// died before it: that one is sent again, once per such crash (the robots
// have no idempotency key to dedupe it).
func (d *Dispatcher) step(ctx context.Context, ch Channel, now time.Time) time.Time {
	name := ch.Name()
	// Something is due (Flush saw it). While the robot is paused or its
	// slots are taken nothing can go: no need for the lease to know.
	rl, err := loadRate(ctx, d.db, name, d.opts.RatePerMinute, now)
	if err != nil {
		d.logError(ctx, "notifications: send", name, err)
		return now.Add(failWait)
	}
	if now.Before(rl.pausedUntil) {
		return rl.pausedUntil
	}
	if rl.used(now) >= rl.limit {
		return rl.slotFreeAt(now)
	}
	lease, ok, err := d.lease(ctx, name)
	if err != nil {
		d.logError(ctx, "notifications: take a channel's lease", name, err)
		return now.Add(failWait)
	}
	if !ok {
		return now.Add(leaseWait) // another dispatcher is sending to this robot
	}
	defer func() { _ = lease.Rollback() }() // it holds only the lock

	rl, err = d.sendDue(ctx, ch, now)
	if err != nil {
		d.logError(ctx, "notifications: send", name, err)
		return now.Add(failWait)
	}
	due, err := nextDue(ctx, d.db, name)
	if err != nil {
		d.logError(ctx, "notifications: send", name, err)
		return now.Add(failWait)
	}
	switch {
	case due.IsZero():
		return time.Time{}
	case due.After(now):
		return due
	case now.Before(rl.pausedUntil):
		return rl.pausedUntil
	}
	return rl.slotFreeAt(now)
}

// lease takes the channel's advisory lock for the length of a transaction.
// It keeps the channel's grouping and rate limit to one sender at a time
// across nodes. The transaction survives ctx's end so that a send under
// way finishes under the lease.
func (d *Dispatcher) lease(ctx context.Context, channel string) (bun.Tx, bool, error) {
	tx, err := d.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return tx, false, fmt.Errorf("begin: %w", err)
	}
	var ok bool
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(?, hashtext(?))`, leaseClass, channel).Scan(&ok); err != nil {
		_ = tx.Rollback()
		return tx, false, fmt.Errorf("lock channel %s: %w", channel, err)
	}
	if !ok {
		_ = tx.Rollback()
	}
	return tx, ok, nil
}

// sendDue sends the channel's due rows and returns its rate state after.
func (d *Dispatcher) sendDue(ctx context.Context, ch Channel, now time.Time) (rateState, error) {
	name := ch.Name()
	// Read again under the lease: another node may have sent meanwhile.
	rl, err := loadRate(ctx, d.db, name, d.opts.RatePerMinute, now)
	if err != nil || now.Before(rl.pausedUntil) || rl.used(now) >= rl.limit {
		// Nothing can go before the robot resumes or a slot frees; what
		// is due waits (and merges) in the outbox.
		return rl, err
	}
	if err := cancelAcknowledged(ctx, d.db, name, now); err != nil {
		return rl, err
	}
	rows, err := dueRows(ctx, d.db, name, now)
	if err != nil || len(rows) == 0 {
		return rl, err
	}
	if rows, err = d.fold(ctx, name, rows, now); err != nil || len(rows) == 0 {
		return rl, err
	}
	if rows, err = d.silence(ctx, name, rows, now); err != nil || len(rows) == 0 {
		return rl, err
	}
	ds, left := d.pack(ch, d.groupRows(rows), d.opts.RatePerMinute-rl.used(now))
	d.hold(name, len(left) > 0, len(left))
	if len(left) > 0 {
		rl.need = d.newDelivery(ch, left[:1], d.renderGroup(left[0])).cost
	}
	for _, dl := range ds {
		if ctx.Err() != nil {
			break // shutting down: the rest stay in the outbox
		}
		at := d.now()
		tried, pause := d.deliver(ctx, ch, dl, at, rl.pausedUntil)
		if tried {
			rl.took(at, dl.cost)
		}
		if !pause.IsZero() {
			rl.pausedUntil = pause
			break // the robot refuses for now: the rest wait, merging
		}
	}
	return rl, nil
}

// silence marks due rows a silence in force matches as silenced (one log
// row per group) and returns the others.
func (d *Dispatcher) silence(ctx context.Context, channel string, rows []outboxRow, now time.Time) ([]outboxRow, error) {
	if d.opts.Silences == nil {
		return rows, nil
	}
	ss, err := d.opts.Silences(ctx)
	if err != nil {
		// Sending what may be silenced would be worse than waiting.
		return nil, fmt.Errorf("read silences: %w", err)
	}
	var keep, quiet []outboxRow
	for _, r := range rows {
		if slices.ContainsFunc(ss, func(s Silence) bool { return s.matches(r.Rule, r.Scope) }) {
			quiet = append(quiet, r)
		} else {
			keep = append(keep, r)
		}
	}
	if len(quiet) == 0 {
		return keep, nil
	}
	silenced, err := d.drop(ctx, channel, quiet, stateSilenced, StatusSilenced, now)
	if err != nil {
		return nil, fmt.Errorf("silence %d notifications: %w", len(quiet), err)
	}
	d.mu.Lock()
	d.stats.Silenced += int64(silenced)
	d.mu.Unlock()
	return keep, nil
}

// fold marks due alert rows (and escalations) of alerts that belong to an
// incident told to this channel as folded: the robots hear of the incident, in one message on
// open and one on resolve, instead of each member alert. It returns the
// others.
func (d *Dispatcher) fold(ctx context.Context, channel string, rows []outboxRow, now time.Time) ([]outboxRow, error) {
	var alertIDs []int64
	for _, r := range rows {
		if r.Purpose != purposeIncident && r.AlertID != 0 {
			alertIDs = append(alertIDs, r.AlertID)
		}
	}
	members, err := inIncidents(ctx, d.db, channel, alertIDs)
	if err != nil || len(members) == 0 {
		return rows, err
	}
	var keep, folded []outboxRow
	for _, r := range rows {
		if r.Purpose != purposeIncident && members[r.AlertID] {
			folded = append(folded, r)
		} else {
			keep = append(keep, r)
		}
	}
	n, err := d.drop(ctx, channel, folded, stateFolded, StatusFolded, now)
	if err != nil {
		return nil, fmt.Errorf("fold %d notifications into incidents: %w", len(folded), err)
	}
	d.mu.Lock()
	d.stats.Folded += int64(n)
	d.mu.Unlock()
	return keep, nil
}

// drop ends rows without sending them (silenced, folded), one delivery
// log row per group, and returns how many it ended: rows another
// transaction holds are left to it.
func (d *Dispatcher) drop(ctx context.Context, channel string, quiet []outboxRow, state, status string, now time.Time) (int, error) {
	dropped := 0
	err := d.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		ids := make([]int64, len(quiet))
		for i, r := range quiet {
			ids[i] = r.ID
		}
		got, err := claim(ctx, tx, ids)
		if err != nil {
			return err
		}
		var done []int64
		var log []Delivery
		at := map[string]int{}
		for _, r := range quiet {
			if !got[r.ID] {
				continue
			}
			done = append(done, r.ID)
			k := r.key().String()
			if i, ok := at[k]; ok {
				log[i].AlertCount++
				continue
			}
			at[k] = len(log)
			log = append(log, Delivery{Channel: channel, GroupKey: k, AlertCount: 1, Status: status, CreatedAt: now})
		}
		if len(done) == 0 {
			return nil
		}
		if err := finish(ctx, tx, done, state, false, "", now); err != nil {
			return err
		}
		dropped = len(done)
		return writeDeliveries(ctx, tx, log)
	})
	return dropped, err
}

// deliver sends one message in the transaction that claims its rows and
// records the robot's answer there. tried says the robot was called;
// pause is set when it said rate limited: when the channel resumes.
func (d *Dispatcher) deliver(ctx context.Context, ch Channel, dl *delivery, at, pausedUntil time.Time) (tried bool, pause time.Time) {
	name := ch.Name()
	ids := dl.ids()
	// Neither the send nor the record of its answer is cut short by a
	// shutdown: an answer not recorded means the message goes again.
	txCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout+dbTimeout)
	defer cancel()
	tx, err := d.db.BeginTx(txCtx, nil)
	if err != nil {
		d.logError(ctx, "notifications: begin a send", name, err)
		return false, time.Time{}
	}
	defer func() { _ = tx.Rollback() }()
	got, err := claim(txCtx, tx, ids)
	if err != nil {
		d.logError(ctx, "notifications: claim a message's rows", name, err)
		return false, time.Time{}
	}
	if len(got) != len(ids) {
		// Changed since planned (an acknowledgement cancelled an
		// escalation): the next step plans again.
		return false, time.Time{}
	}
	sendCtx, cancelSend := context.WithTimeout(txCtx, sendTimeout)
	start := time.Now()
	sendErr := ch.Send(sendCtx, dl.msg)
	latency := time.Since(start)
	cancelSend()

	n := dl.alerts()
	row := Delivery{Channel: name, GroupKey: dl.key(), AlertCount: n, Attempt: dl.attempt, CreatedAt: at,
		LatencyMS: latency.Milliseconds(), Cost: dl.cost}
	gaveUp := false
	switch {
	case sendErr == nil:
		row.Status = StatusSent
		err = finish(txCtx, tx, ids, stateSent, true, "", at)
	case errors.Is(sendErr, ErrRateLimited):
		// Not an attempt of the message: it waits, merging, and goes
		// when the robot takes messages again.
		wait, _ := RetryAfter(sendErr)
		if wait <= 0 {
			wait = time.Minute
		}
		pause = at.Add(wait)
		if pausedUntil.After(pause) {
			pause = pausedUntil
		}
		row.Status, row.Error, row.RetryAt = StatusRateLimited, sendErr.Error(), pause
	case errors.Is(sendErr, ErrPermanent) || dl.attempt >= d.opts.MaxAttempts:
		gaveUp = true
		row.Status, row.Error = StatusFailed, sendErr.Error()
		err = finish(txCtx, tx, ids, stateFailed, true, sendErr.Error(), at)
	default:
		row.Status, row.Error, row.RetryAt = StatusFailed, sendErr.Error(), at.Add(d.backoff(dl.attempt))
		err = retryLater(txCtx, tx, ids, sendErr.Error(), row.RetryAt)
	}
	if err == nil {
		err = writeDeliveries(txCtx, tx, []Delivery{row})
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		if sendErr == nil {
			d.log.Error("robot message sent but not recorded: it will be sent again", "channel", name, "group", row.GroupKey,
				"alerts", n, "err", err)
		} else {
			d.log.Error("notifications: record a failed send", "channel", name, "group", row.GroupKey, "send_err", sendErr, "err", err)
		}
		return true, pause
	}
	d.account(name, dl, row, sendErr, gaveUp)
	return true, pause
}

// account counts and logs a recorded send.
func (d *Dispatcher) account(channel string, dl *delivery, row Delivery, sendErr error, gaveUp bool) {
	n := row.AlertCount
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case sendErr == nil:
		d.stats.Sent++
		d.stats.SentAlerts += int64(n)
		d.stats.Grouped += int64(n - 1)
		for _, g := range dl.groups {
			if g.key.escalation {
				d.stats.Escalated += int64(g.count)
			}
			if d.opts.OnSent != nil && len(g.samples) > 0 {
				d.opts.OnSent(channel, g.first, g.count)
			}
		}
	case errors.Is(sendErr, ErrRateLimited):
		d.stats.RateLimitedWaits++
		d.log.Warn("robot rate limited: pausing channel, merging meanwhile", "channel", channel,
			"until", row.RetryAt, "err", sendErr)
	case gaveUp:
		d.stats.Failed++
		d.stats.FailedAlerts += int64(n)
		d.log.Error("notification not delivered, giving up", "channel", channel, "group", row.GroupKey,
			"alerts", n, "attempt", dl.attempt, "permanent", errors.Is(sendErr, ErrPermanent), "err", sendErr)
	default:
		d.stats.Retries++
		d.log.Warn("notification failed, will retry", "channel", channel, "group", row.GroupKey,
			"attempt", dl.attempt, "retry_at", row.RetryAt, "err", sendErr)
	}
}

func (d *Dispatcher) logError(ctx context.Context, msg, channel string, err error) {
	if ctx.Err() != nil {
		return // shutting down
	}
	d.log.Error(msg, "channel", channel, "err", err)
}
