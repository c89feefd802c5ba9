package notifications

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// RobotReply is the answer both robots give, with HTTP 200 even for errors:
// {"errcode":0,"errmsg":"ok"}.
type RobotReply struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// PostJSON posts body as JSON to a robot webhook and decodes its reply.
// Transport failures and HTTP 5xx are transient errors, HTTP 429 is
// rate limited (Retry-After, else fallbackWait), other non-2xx answers are
// permanent. Errors never contain the URL's query (the key, access token or
// signature): only its scheme, host and path.
func PostJSON(ctx context.Context, client *http.Client, rawURL string, body any, fallbackWait time.Duration) (RobotReply, error) {
	var reply RobotReply
	payload, err := json.Marshal(body)
	if err != nil {
		return reply, Permanent(fmt.Errorf("encode message: %w", err))
	}
	safe := RedactURL(rawURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(payload))
	if err != nil {
		return reply, Permanent(fmt.Errorf("build request to %s: %v", safe, redactErr(err, rawURL, safe)))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = safe
		}
		return reply, fmt.Errorf("post to %s: %w", safe, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return reply, fmt.Errorf("read answer of %s: %w", safe, err)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		wait := fallbackWait
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		return reply, RateLimited(wait, fmt.Errorf("%s answered HTTP %d", safe, resp.StatusCode))
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return reply, fmt.Errorf("%s answered HTTP %d: %s", safe, resp.StatusCode, snippet(raw))
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return reply, Permanent(fmt.Errorf("%s answered HTTP %d: %s", safe, resp.StatusCode, snippet(raw)))
	}
	if err := json.Unmarshal(raw, &reply); err != nil {
		return reply, fmt.Errorf("%s answered HTTP %d with no robot reply: %s", safe, resp.StatusCode, snippet(raw))
	}
	return reply, nil
}

// RedactURL is rawURL without its query and credentials.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	return u.String()
}

func redactErr(err error, rawURL, safe string) string {
	return string(bytes.ReplaceAll([]byte(err.Error()), []byte(rawURL), []byte(safe)))
}

func snippet(b []byte) string {
	return TruncateUTF8(string(bytes.TrimSpace(b)), 200)
}
