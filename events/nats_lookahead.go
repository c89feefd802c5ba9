package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata the NATS subscriber sets on every delivery: where the message
// sits, for Following.
const (
	metaStreamSeq = "stream_seq"
	metaPartition = "partition"
)

// maxPeekGap is how far (in stream sequence) a partition's peek may lag
// the message asked about before it is moved rather than read through.
const maxPeekGap = 2000

// Following returns up to n messages of msg's partition stored after it.
// The consumer group still delivers one message per partition at a time,
// so ordering and redelivery stay the broker's; this only lets a handler
// see what it will be handed next. Each node peeks each partition through
// an ephemeral, unacknowledged consumer of its own that moves forward
// with the deliveries; a message kept in the outbox by reference ends
// what is returned.
func (b *NATSBus) Following(ctx context.Context, topic string, msg *message.Message, n int) ([]*message.Message, error) {
	seq, err1 := strconv.ParseUint(msg.Metadata.Get(metaStreamSeq), 10, 64)
	part, err2 := strconv.Atoi(msg.Metadata.Get(metaPartition))
	if err1 != nil || err2 != nil || part < 0 || part >= b.opts.Partitions || n <= 0 {
		return nil, nil // not a delivery of this bus: nothing to say
	}
	pk := b.peeker(topic, part)
	pk.mu.Lock()
	defer pk.mu.Unlock()
	return pk.following(ctx, b, topic, part, seq, n)
}

// peek is one node's view ahead of one partition of a topic.
type peek struct {
	mu   sync.Mutex
	cons jetstream.Consumer
	// start is the first stream sequence cons may deliver; after and cseq
	// the stream and consumer sequences of the last it did; asked the
	// latest sequence asked about (what is at or before it is dropped).
	start, after, cseq, asked uint64
	buf                       []peeked
}

type peeked struct {
	seq uint64
	msg *message.Message // nil: its payload stayed in the outbox
}

func (b *NATSBus) peeker(topic string, part int) *peek {
	b.peekMu.Lock()
	defer b.peekMu.Unlock()
	if b.peeks == nil {
		b.peeks = map[string][]*peek{}
	}
	ps := b.peeks[topic]
	if ps == nil {
		ps = make([]*peek, b.opts.Partitions)
		for i := range ps {
			ps[i] = &peek{}
		}
		b.peeks[topic] = ps
	}
	return ps[part]
}

func (pk *peek) following(ctx context.Context, b *NATSBus, topic string, part int, seq uint64, n int) ([]*message.Message, error) {
	// Peeking from after seq must be possible without a gap: the peek must
	// not start past seq, nor have dropped what follows it (a message
	// redelivered behind one asked about before), nor lag far behind.
	if pk.cons == nil || seq+1 < pk.start || seq < pk.asked || pk.after+maxPeekGap < seq {
		if err := pk.reset(ctx, b, topic, part, seq+1); err != nil {
			return nil, err
		}
	}
	pk.asked = seq
	// Forget what is at or before seq: delivered, or folded already.
	drop := 0
	for drop < len(pk.buf) && pk.buf[drop].seq <= seq {
		drop++
	}
	pk.buf = pk.buf[drop:]
	if want := n - len(pk.buf); want > 0 {
		if err := pk.fetch(b, seq, want); err != nil {
			// What the peek holds is still good; it starts over next time.
			pk.cons = nil
			if len(pk.buf) == 0 {
				return nil, err
			}
		}
	}
	var out []*message.Message
	for _, p := range pk.buf {
		if p.msg == nil || len(out) == n {
			break
		}
		// A copy: the handler may keep or change what it is given.
		out = append(out, p.msg.Copy())
	}
	return out, nil
}

func (pk *peek) reset(ctx context.Context, b *NATSBus, topic string, part int, start uint64) error {
	stream, err := b.js.Stream(ctx, b.streamName(topic))
	if err != nil {
		return fmt.Errorf("bus: peek %s p%02d: %w", topic, part, err)
	}
	if pk.cons != nil {
		// Best effort: an abandoned one goes away once inactive anyway.
		_ = stream.DeleteConsumer(ctx, pk.cons.CachedInfo().Name)
		pk.cons = nil
	}
	c, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     b.subject(topic, part),
		AckPolicy:         jetstream.AckNonePolicy,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	})
	if err != nil {
		return fmt.Errorf("bus: peek %s p%02d: %w", topic, part, err)
	}
	pk.cons, pk.start, pk.after, pk.cseq, pk.asked, pk.buf = c, start, start-1, 0, 0, nil
	return nil
}

// fetch appends up to want messages available now, stopping at a gap
// (a reply lost on the way), after which the peek starts over.
func (pk *peek) fetch(b *NATSBus, seq uint64, want int) error {
	batch, err := pk.cons.FetchNoWait(want)
	if err != nil {
		return fmt.Errorf("bus: peek: %w", err)
	}
	var gap bool
	for jm := range batch.Messages() {
		if gap {
			continue
		}
		md, err := jm.Metadata()
		if err != nil || md.Sequence.Consumer != pk.cseq+1 {
			gap = true
			continue
		}
		pk.cseq, pk.after = md.Sequence.Consumer, md.Sequence.Stream
		if md.Sequence.Stream <= seq {
			continue
		}
		m, err := b.marshal.Unmarshal(&nats.Msg{Subject: jm.Subject(), Header: jm.Headers(), Data: jm.Data()})
		if err != nil || m.Metadata.Get(metaPayloadRef) != "" {
			m = nil
		}
		pk.buf = append(pk.buf, peeked{seq: md.Sequence.Stream, msg: m})
	}
	if gap {
		return errors.New("bus: peek: a message missing from the partition's sequence")
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
		return fmt.Errorf("bus: peek: %w", err)
	}
	return nil
}
