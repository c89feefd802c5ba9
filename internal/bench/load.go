package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/towerhq/tower/internal/platforms/standard"
)

// sender posts correctly signed Standard Webhooks to one source, as the
// brand's systems and the platforms do, on the nodes at urls (any node
// accepts webhooks, as behind a load balancer).
type sender struct {
	urls           []string
	source, secret string
	client         *http.Client
	run            string // makes ids and order numbers unique per run
	seq            atomic.Int64
	// acked counts the events of every delivery answered 200: what the
	// pipeline must have projected once drained.
	acked atomic.Int64
}

func newSender(urls []string, source, secret string, conns int) *sender {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &sender{urls: urls, source: source, secret: secret, client: &http.Client{Transport: tr, Timeout: 60 * time.Second},
		run: strconv.FormatInt(time.Now().UnixNano()%1e9, 36)}
}

// events are n canonical events of fresh orders: a creation with buyer
// details (what the rules and features read), then its payment.
func (s *sender) events(n int) (body []byte, orderNos []string) {
	evs := make([]map[string]any, 0, n)
	for len(evs) < n {
		k := s.seq.Add(1)
		no := s.run + "-" + strconv.FormatInt(k, 10)
		at := time.Now()
		evs = append(evs, map[string]any{
			"id": "c-" + no, "type": "order.created", "occurredAt": at.Format(time.RFC3339Nano),
			"order": map[string]any{"channel": "douyin", "orderNo": no},
			"data": map[string]any{
				"amount": "129.00", "buyerId": "b" + strconv.FormatInt(k%5000, 10), "buyerIp": fmt.Sprintf("10.%d.%d.%d", k>>16&255, k>>8&255, k&255),
				"shop": "bench", "warehouse": "HZ-01",
				"receiver": map[string]any{"name": "王伟", "phone": fmt.Sprintf("138%08d", k%1e8), "province": "浙江省", "city": "杭州市",
					"district": "西湖区", "address": fmt.Sprintf("文三路 %d 号 %d 室", k%300+1, k%97+100)},
				"items": []map[string]any{{"sku": "CRM-02", "qty": 1, "price": "129.00"}},
			},
		})
		orderNos = append(orderNos, no)
		if len(evs) < n {
			evs = append(evs, map[string]any{
				"id": "p-" + no, "type": "order.paid", "occurredAt": at.Add(time.Second).Format(time.RFC3339Nano),
				"order": map[string]any{"channel": "douyin", "orderNo": no}, "data": map[string]any{"amount": "129.00"},
			})
		}
	}
	if n == 1 {
		body, _ = json.Marshal(evs[0])
	} else {
		body, _ = json.Marshal(map[string]any{"events": evs})
	}
	return body, orderNos
}

// post sends one signed delivery of events events to node (modulo the
// nodes) and waits for its answer.
func (s *sender) post(ctx context.Context, node int, body []byte, events int) error {
	id := "d-" + s.run + "-" + strconv.FormatInt(s.seq.Add(1), 10)
	ts := time.Now()
	sig, err := standard.Sign(s.secret, id, ts.Unix(), body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.urls[node%len(s.urls)]+"/webhooks/"+s.source, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(standard.HeaderID, id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	s.acked.Add(int64(events))
	return nil
}

// saturate sends webhooks of perWebhook events from workers concurrent
// senders, each waiting for its answer (closed loop), for d; sender w
// posts to node w (round robin over the nodes). It returns the events
// acknowledged.
func (s *sender) saturate(ctx context.Context, workers, perWebhook int, d time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var acked atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				body, _ := s.events(perWebhook)
				if err := s.post(ctx, w, body, perWebhook); err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					continue
				}
				acked.Add(int64(perWebhook))
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil && acked.Load() == 0 {
		return 0, err
	}
	return acked.Load(), nil
}

// latencies is a sorted set of durations.
type latencies []time.Duration

func (l latencies) pct(p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	i := min(int(float64(len(l))*p), len(l)-1)
	return float64(l[i].Microseconds()) / 1000
}
