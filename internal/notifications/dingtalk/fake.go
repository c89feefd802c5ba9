package dingtalk

import (
	"crypto/hmac"
	"encoding/json"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Fake is a local DingTalk custom robot for tests and the simulator. It
// checks what the real robot checks (the access token, the signed timestamp
// within an hour of its clock and the signature when it has a secret, the
// JSON body and msgtype) and enforces the rate limit: beyond 20 messages in
// a minute of its clock it answers 130101 and then refuses everything for
// ten minutes. Everything it is sent is recorded. A body it cannot accept
// (not JSON, not markdown, no title, text or at block) gets errcode 400, a
// code of the fake's own.
type Fake struct {
	token, secret string
	now           func() time.Time

	mu             sync.Mutex
	limit          int
	accepted       []time.Time
	throttledUntil time.Time
	requests       []FakeRequest
	messages       []FakeMessage
	failNext       []int
}

// FakeRequest is one request the fake answered.
type FakeRequest struct {
	At         time.Time
	HTTPStatus int
	ErrCode    int
	ErrMsg     string
}

// FakeMessage is one message the fake accepted.
type FakeMessage struct {
	At       time.Time
	MsgType  string
	Title    string
	Text     string
	Mentions At // the at block as sent
	// MentionsInText: every mobile and user id of the at block also
	// appears as @… in the text.
	MentionsInText bool
	// Signed: the request carried a valid timestamp and sign.
	Signed bool
}

// NewFake is a robot whose webhook is <server>/robot/send?access_token=token;
// with a secret it requires signed requests. now is its clock (nil:
// time.Now).
func NewFake(token, secret string, now func() time.Time) *Fake {
	if now == nil {
		now = time.Now
	}
	return &Fake{token: token, secret: secret, now: now, limit: 20}
}

// SetLimit changes the messages accepted in any minute (default 20).
func (f *Fake) SetLimit(perMinute int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limit = perMinute
}

// FailNext answers the next requests with these HTTP statuses, one each,
// before any check.
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
	if r.Method != http.MethodPost || r.URL.Path != "/robot/send" {
		f.requests = append(f.requests, FakeRequest{At: now, HTTPStatus: http.StatusNotFound})
		http.NotFound(w, r)
		return
	}
	answer := func(code int, msg string) {
		f.requests = append(f.requests, FakeRequest{At: now, HTTPStatus: http.StatusOK, ErrCode: code, ErrMsg: msg})
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		_ = json.NewEncoder(w).Encode(map[string]any{"errcode": code, "errmsg": msg})
	}
	q := r.URL.Query()
	if q.Get("access_token") != f.token {
		answer(CodeBadToken, "token is not exist")
		return
	}
	signed := false
	if f.secret != "" {
		ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
		if err != nil {
			answer(CodeSecurityFailed, "keywords not in content, timestamp missing")
			return
		}
		if d := now.Sub(time.UnixMilli(ts)); d > TimestampTolerance || d < -TimestampTolerance {
			answer(CodeSecurityFailed, "invalid timestamp")
			return
		}
		if !hmac.Equal([]byte(q.Get("sign")), []byte(Sign(f.secret, ts))) {
			answer(CodeSecurityFailed, "sign not match")
			return
		}
		signed = true
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		answer(400, "content type is not application/json")
		return
	}
	var body struct {
		MsgType  string `json:"msgtype"`
		Markdown *struct {
			Title string `json:"title"`
			Text  string `json:"text"`
		} `json:"markdown"`
		At *At `json:"at"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		answer(400, "invalid json: "+err.Error())
		return
	}
	if body.MsgType != "markdown" || body.Markdown == nil {
		answer(400, "fake accepts msgtype markdown only")
		return
	}
	m := body.Markdown
	if m.Title == "" || m.Text == "" || !utf8.ValidString(m.Title) || !utf8.ValidString(m.Text) {
		answer(400, "markdown.title and markdown.text are required UTF-8")
		return
	}
	if body.At == nil {
		answer(400, "fake requires the at block")
		return
	}
	msg := FakeMessage{At: now, MsgType: body.MsgType, Title: m.Title, Text: m.Text, Mentions: *body.At, Signed: signed, MentionsInText: true}
	for _, who := range append(append([]string(nil), body.At.AtMobiles...), body.At.AtUserIDs...) {
		if !strings.Contains(m.Text, "@"+who) {
			msg.MentionsInText = false
		}
	}
	if now.Before(f.throttledUntil) {
		answer(CodeRateLimited, "send too fast, exceed 20 times per minute")
		return
	}
	recent := 0
	for _, t := range f.accepted {
		if now.Sub(t) < time.Minute {
			recent++
		}
	}
	if recent >= f.limit {
		f.throttledUntil = now.Add(ThrottleWait)
		answer(CodeRateLimited, "send too fast, exceed 20 times per minute")
		return
	}
	f.accepted = append(f.accepted, now)
	f.messages = append(f.messages, msg)
	answer(CodeOK, "ok")
}
