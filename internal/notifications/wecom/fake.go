package wecom

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"sync"
	"time"
	"unicode/utf8"
)

// Fake is a local WeCom group robot for tests and the simulator. It checks
// what the real robot checks (the key, the JSON body, the msgtype, the
// content's byte limit) and enforces the rate limit of 20 messages in any
// minute of its clock, answering 45009 beyond it. Everything it is sent is
// recorded.
type Fake struct {
	key string
	now func() time.Time

	mu       sync.Mutex
	limit    int
	accepted []time.Time
	requests []FakeRequest
	messages []FakeMessage
	failNext []int
}

// FakeRequest is one request the fake answered.
type FakeRequest struct {
	At         time.Time
	HTTPStatus int
	ErrCode    int
}

// FakeMessage is one message the fake accepted.
type FakeMessage struct {
	At                  time.Time
	MsgType             string // markdown or text
	Content             string
	MentionedList       []string
	MentionedMobileList []string
}

// NewFake is a robot whose webhook is <server>/cgi-bin/webhook/send?key=key;
// now is its clock (nil: time.Now).
func NewFake(key string, now func() time.Time) *Fake {
	if now == nil {
		now = time.Now
	}
	return &Fake{key: key, now: now, limit: 20}
}

// SetLimit changes the messages accepted in any minute (default 20).
func (f *Fake) SetLimit(perMinute int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limit = perMinute
}

// FailNext answers the next requests with these HTTP statuses (e.g. 500),
// one each, before any check.
func (f *Fake) FailNext(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = append(f.failNext, statuses...)
}

// Messages are the accepted messages, in order.
func (f *Fake) Messages() []FakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeMessage(nil), f.messages...)
}

// Requests are all requests answered, in order.
func (f *Fake) Requests() []FakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeRequest(nil), f.requests...)
}

// MaxInWindow is the most requests (accepted or not) the fake saw within
// any span shorter than w.
func (f *Fake) MaxInWindow(w time.Duration) int {
	f.mu.Lock()
	times := make([]time.Time, len(f.requests))
	for i, r := range f.requests {
		times[i] = r.At
	}
	f.mu.Unlock()
	return maxInWindow(times, w)
}

func maxInWindow(times []time.Time, w time.Duration) int {
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	best, i := 0, 0
	for j := range times {
		for times[j].Sub(times[i]) >= w {
			i++
		}
		best = max(best, j-i+1)
	}
	return best
}

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if len(f.failNext) > 0 {
		status := f.failNext[0]
		f.failNext = f.failNext[1:]
		f.requests = append(f.requests, FakeRequest{At: now, HTTPStatus: status})
		http.Error(w, http.StatusText(status), status)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/cgi-bin/webhook/send" {
		f.requests = append(f.requests, FakeRequest{At: now, HTTPStatus: http.StatusNotFound})
		http.NotFound(w, r)
		return
	}
	answer := func(code int, msg string) {
		f.requests = append(f.requests, FakeRequest{At: now, HTTPStatus: http.StatusOK, ErrCode: code})
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_ = json.NewEncoder(w).Encode(map[string]any{"errcode": code, "errmsg": msg})
	}
	if r.URL.Query().Get("key") != f.key {
		answer(CodeInvalidKey, "invalid webhook url, hint: [fake]")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		answer(CodeInvalidParameter, "invalid Request Parameter: content type is not application/json")
		return
	}
	var body struct {
		MsgType  string `json:"msgtype"`
		Markdown *struct {
			Content string `json:"content"`
		} `json:"markdown"`
		Text *struct {
			Content             string   `json:"content"`
			MentionedList       []string `json:"mentioned_list"`
			MentionedMobileList []string `json:"mentioned_mobile_list"`
		} `json:"text"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		answer(CodeInvalidParameter, "invalid Request Parameter: "+err.Error())
		return
	}
	msg := FakeMessage{At: now, MsgType: body.MsgType}
	switch {
	case body.MsgType == "markdown" && body.Markdown != nil:
		msg.Content = body.Markdown.Content
		if n := len(msg.Content); n > MaxMarkdownBytes {
			answer(CodeInvalidParameter, fmt.Sprintf("markdown.content exceed max length %d (got %d bytes)", MaxMarkdownBytes, n))
			return
		}
	case body.MsgType == "text" && body.Text != nil:
		msg.Content = body.Text.Content
		msg.MentionedList = body.Text.MentionedList
		msg.MentionedMobileList = body.Text.MentionedMobileList
		if n := len(msg.Content); n > MaxTextBytes {
			answer(CodeInvalidParameter, fmt.Sprintf("text.content exceed max length %d (got %d bytes)", MaxTextBytes, n))
			return
		}
	default:
		answer(CodeInvalidMsgType, "invalid message type")
		return
	}
	if msg.Content == "" || !utf8.ValidString(msg.Content) {
		answer(CodeInvalidParameter, "invalid Request Parameter: empty content or invalid UTF-8")
		return
	}
	recent := 0
	for _, t := range f.accepted {
		if now.Sub(t) < time.Minute {
			recent++
		}
	}
	if recent >= f.limit {
		answer(CodeRateLimited, "api freq out of limit")
		return
	}
	f.accepted = append(f.accepted, now)
	f.messages = append(f.messages, msg)
	answer(CodeOK, "ok")
}
