package reward

// The client side of rewards over HTTP. The protocol is Flow-Factory's remote reward server:
//
//	GET  /health   200 when the server is ready
//	POST /compute  {"prompt": [...], "image": [base64 PNG, ...], "video": null, ...}
//	               → {"rewards": [float, ...]} (one per image, same order)
//	               optional, flowtune's extension: "metadata": [object or null, ...], one per
//	               image (the prompt's metadata, e.g. GenEval's tag/include); docs/rewards-protocol.md
//	               or {"error": "message"} with a 4xx/5xx status
//
// Requests that fail in a way that may pass on its own (no connection, a timeout, a 5xx, 408 or
// 429 answer) are tried again after an exponentially growing pause; anything else fails at once.
// A failure is a RemoteError whose kind (ErrServerDown, ErrRejected, ErrBadAnswer) tells a
// server that is down from one that rejects the request.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// Defaults of RemoteOptions.
const (
	DefaultRemoteTimeout    = 60 * time.Second
	DefaultRemoteAttempts   = 3
	DefaultRemoteBackoff    = 500 * time.Millisecond
	DefaultRemoteMaxBackoff = 8 * time.Second
)

// healthTimeout bounds the constructor's health check (or Timeout, if shorter).
const healthTimeout = 10 * time.Second

// maxAnswerBytes bounds how much of a server's answer is read.
const maxAnswerBytes = 64 << 20

// MaxRewardMagnitude bounds the rewards a server may answer: beyond ±1e12 the training
// statistics (group means and variances, weighted sums) lose all precision or overflow, so such
// an answer is a broken server's.
const MaxRewardMagnitude = 1e12

// RemoteOptions tune a Remote. Zero values take the defaults.
type RemoteOptions struct {
	// Timeout bounds one request, from connecting to reading the whole answer (default 60 s).
	Timeout time.Duration
	// Attempts is how many times a request is made in all, the first one included, as
	// Flow-Factory's retry_attempts counts (default 3; 1 never retries).
	Attempts int
	// Backoff is the pause before the first retry; each further retry doubles it, up to
	// MaxBackoff (defaults 0.5 s and 8 s).
	Backoff, MaxBackoff time.Duration
	// BatchSize caps the images of one request; a larger call is sent in several requests, one
	// after the other (0: every call is one request).
	BatchSize int
	// Client replaces the HTTP client (tests); the per-request Timeout still applies.
	Client *http.Client
	// Log, when set, gets a warning for each retry. Nil logs nothing.
	Log *zerolog.Logger
	// Token, when not empty, is sent with every request as Authorization: Bearer <Token>
	// (ReadToken reads it from $FLOWTUNE_REWARD_TOKEN or a file).
	Token string
}

// Remote is a reward computed by a server speaking the protocol above. It is safe for
// concurrent use.
type Remote struct {
	name    string
	url     string // as configured, credentials redacted, for messages
	compute string // endpoint URLs
	health  string
	o       RemoteOptions
	client  *http.Client
}

// NewRemote returns the reward name computed by the server at rawURL (http or https; the
// endpoints are rawURL's path + "/health" and "/compute", its query kept). It checks GET /health
// first and fails, suggesting how to start a server, when the server does not answer 200.
// Messages show rawURL redacted (RedactURL).
func NewRemote(name, rawURL string, o RemoteOptions) (*Remote, error) {
	shown := RedactURL(rawURL)
	if name == "" {
		return nil, fmt.Errorf("remote reward at %s: empty name", shown)
	}
	u, err := ParseServerURL(rawURL)
	if err == nil && isRedacted(u) {
		err = errRedacted
	}
	if err != nil {
		return nil, fmt.Errorf("reward %s@%s: %w", name, shown, err)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultRemoteTimeout
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultRemoteAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultRemoteBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultRemoteMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.Backoff)
	m := &Remote{name: name, url: shown, o: o, client: o.Client}
	if m.client == nil {
		// The default transport, except that a local server is never reached through a proxy
		// from the environment (Go already skips proxies for loopback hosts).
		m.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	m.compute, m.health = endpoint(u, "compute"), endpoint(u, "health")
	if err := m.checkHealth(u); err != nil {
		return nil, err
	}
	return m, nil
}

// ParseServerURL parses a reward server's URL: it must be absolute, http or https, with a host.
// Errors show the URL redacted.
func ParseServerURL(rawURL string) (*url.URL, error) {
	shown := RedactURL(rawURL)
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bad server URL %q", shown)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("server URL %q must start with http:// or https://", shown)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("server URL %q has no host", shown)
	}
	return u, nil
}

func endpoint(base *url.URL, name string) string {
	e := *base
	e.Path = strings.TrimSuffix(e.Path, "/") + "/" + name
	e.RawPath = ""
	return e.String()
}

// Name is the reward's name (as configured, not the server's).
func (m *Remote) Name() string { return m.name }

// URL is the server's URL as configured, credentials redacted.
func (m *Remote) URL() string { return m.url }

// authorize adds the token, if any, to req.
func (m *Remote) authorize(req *http.Request) {
	if m.o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+m.o.Token)
	}
}

func (m *Remote) checkHealth(u *url.URL) error {
	ctx, cancel := context.WithTimeout(context.Background(), min(m.o.Timeout, healthTimeout))
	defer cancel()
	e := &RemoteError{Reward: m.name, URL: m.url, Op: "GET /health", Attempts: 1}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.health, nil)
	if err != nil {
		e.Err = err
		return e
	}
	m.authorize(req)
	resp, err := m.client.Do(req)
	if err != nil {
		e.Err = err
		if isTimeout(err) {
			e.Timeout = min(m.o.Timeout, healthTimeout)
		}
		e.Hint = "is the server running? " + startHint(m.name, u.Host)
		return e
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		e.Status, e.Body = resp.StatusCode, snippet(body)
		if e.Hint = statusHint(resp.StatusCode, m.o.Token != ""); e.Hint == "" {
			e.Hint = "the server answers but is not ready (or this is not a reward server)"
		}
		return e
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	return nil
}

// startHint says how to start a server for a reward of this name.
func startHint(name, host string) string {
	if _, err := ByName(name); err == nil {
		return fmt.Sprintf("start one with: go run ./cmd/rewardserver -reward %s -addr %s", name, host)
	}
	return fmt.Sprintf("flowtune's own rewards (%s) are served with: go run ./cmd/rewardserver -reward NAME -addr %s",
		strings.Join(Names(), ", "), host)
}

// Score scores one image (one request).
func (m *Remote) Score(prompt string, img image.Image) (float64, error) {
	s, err := m.ScoreBatch([]string{prompt}, []image.Image{img})
	if err != nil {
		return 0, err
	}
	return s[0], nil
}

// ScoreBatch scores the images in one request, or in requests of BatchSize images.
func (m *Remote) ScoreBatch(prompts []string, imgs []image.Image) ([]float64, error) {
	return m.ScoreBatchMetadata(prompts, nil, imgs)
}

// ScoreBatchMetadata is ScoreBatch that also sends each image's prompt metadata (a JSON object,
// such as a GenEval line's "tag", "include", …; nil entries travel as null) in the request's
// optional "metadata" list. With meta nil the request has no "metadata" key at all, exactly as
// before the extension.
func (m *Remote) ScoreBatchMetadata(prompts []string, meta []json.RawMessage, imgs []image.Image) ([]float64, error) {
	if len(prompts) != len(imgs) {
		return nil, fmt.Errorf("reward %s@%s: %d prompts for %d images", m.name, m.url, len(prompts), len(imgs))
	}
	if meta != nil && len(meta) != len(imgs) {
		return nil, fmt.Errorf("reward %s@%s: %d metadata entries for %d images", m.name, m.url, len(meta), len(imgs))
	}
	out := make([]float64, 0, len(imgs))
	step := len(imgs)
	if m.o.BatchSize > 0 {
		step = m.o.BatchSize
	}
	for lo := 0; lo < len(imgs); lo += step {
		hi := min(lo+step, len(imgs))
		var md []json.RawMessage
		if meta != nil {
			md = meta[lo:hi]
		}
		s, err := m.request(prompts[lo:hi], md, imgs[lo:hi])
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	return out, nil
}

// computeRequest is the body of POST /compute. The keys for videos and condition images are
// sent as null, as Flow-Factory's client does for image rewards.
type computeRequest struct {
	Prompt          []string `json:"prompt"`
	Image           []string `json:"image"`
	Video           any      `json:"video"`
	ConditionImages any      `json:"condition_images"`
	ConditionVideos any      `json:"condition_videos"`
	// Metadata is flowtune's optional extension: one JSON object (or null) per image, the
	// prompt's metadata. Omitted when the prompts have none; servers that do not know the key
	// ignore it.
	Metadata []json.RawMessage `json:"metadata,omitempty"`
}

// nullEntries replaces empty entries by JSON null, so that the list marshals.
func nullEntries(meta []json.RawMessage) []json.RawMessage {
	if meta == nil {
		return nil
	}
	out := make([]json.RawMessage, len(meta))
	for i, m := range meta {
		if len(m) == 0 {
			m = json.RawMessage("null")
		}
		out[i] = m
	}
	return out
}

// EncodePNG is how images travel: PNG, then standard base64. Opaque images (generated ones are)
// arrive exactly; translucent ones pass through PNG's non-premultiplied alpha.
func EncodePNG(img image.Image) (string, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

func (m *Remote) request(prompts []string, meta []json.RawMessage, imgs []image.Image) ([]float64, error) {
	req := computeRequest{Prompt: prompts, Image: make([]string, len(imgs)), Metadata: nullEntries(meta)}
	for i, img := range imgs {
		s, err := EncodePNG(img)
		if err != nil {
			return nil, fmt.Errorf("reward %s@%s: encoding image %d as PNG: %v", m.name, m.url, i, err)
		}
		req.Image[i] = s
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("reward %s@%s: %v", m.name, m.url, err)
	}
	answer, attempts, err := m.post(body)
	if err != nil {
		return nil, err
	}
	scores, problem := parseAnswer(answer, len(imgs))
	if problem != "" {
		return nil, &RemoteError{Reward: m.name, URL: m.url, Op: "POST /compute", Status: http.StatusOK,
			Attempts: attempts, Problem: problem, Body: snippet(answer)}
	}
	return scores, nil
}

// post sends body to /compute until an answer is 200, a failure is not worth retrying, or the
// attempts are spent. It returns the 200 answer's body and the attempts made.
func (m *Remote) post(body []byte) ([]byte, int, error) {
	for attempt := 1; ; attempt++ {
		status, answer, err := m.once(body)
		if err == nil && status == http.StatusOK {
			return answer, attempt, nil
		}
		retry := err != nil || retryable(status)
		if !retry || attempt >= m.o.Attempts {
			e := &RemoteError{Reward: m.name, URL: m.url, Op: "POST /compute", Status: status, Attempts: attempt,
				Err: err, Body: snippet(answer), Hint: statusHint(status, m.o.Token != "")}
			if err != nil && isTimeout(err) {
				e.Timeout = m.o.Timeout
			}
			if !retry {
				e.Problem = "not retried"
			}
			return nil, attempt, e
		}
		wait := m.backoff(attempt)
		if m.o.Log != nil {
			ev := m.o.Log.Warn().Str("reward", m.name).Str("url", m.url).Int("attempt", attempt).
				Int("of", m.o.Attempts).Dur("retry_in", wait)
			switch {
			case err != nil:
				ev = ev.Err(err)
			default:
				ev = ev.Int("status", status).Str("answer", snippet(answer))
			}
			ev.Msg("reward request failed; retrying")
		}
		time.Sleep(wait)
	}
}

// backoff is the pause after failed attempt n (1-based): Backoff·2^(n−1), at most MaxBackoff.
func (m *Remote) backoff(n int) time.Duration {
	d := m.o.Backoff
	for i := 1; i < n && d < m.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, m.o.MaxBackoff)
}

// once makes one request. A non-nil error means no complete answer came.
func (m *Remote) once(body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), m.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.compute, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	m.authorize(req)
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer (status %d): %w", resp.StatusCode, err)
	}
	return resp.StatusCode, answer, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// parseAnswer reads a 200 answer: n finite rewards within ±MaxRewardMagnitude, or what is wrong
// with it.
func parseAnswer(data []byte, n int) ([]float64, string) {
	var ans struct {
		Rewards []json.RawMessage `json:"rewards"`
		Error   json.RawMessage   `json:"error"`
	}
	if err := json.Unmarshal(data, &ans); err != nil {
		p := fmt.Sprintf("the answer is not the expected JSON object {\"rewards\": [...]} (%v)", err)
		if bytes.Contains(data, []byte("NaN")) || bytes.Contains(data, []byte("Infinity")) {
			p += "; it seems to hold NaN or Infinity, which JSON cannot carry (Python's json.dumps writes them for non-finite scores)"
		}
		return nil, p
	}
	if e := strings.TrimSpace(string(ans.Error)); e != "" && e != "null" && e != `""` && e != "false" {
		return nil, "the server reports an error: " + e
	}
	if ans.Rewards == nil {
		return nil, `the answer has no "rewards" list`
	}
	if len(ans.Rewards) != n {
		return nil, fmt.Sprintf("the answer has %d rewards for %d images", len(ans.Rewards), n)
	}
	out := make([]float64, n)
	for i, raw := range ans.Rewards {
		tok := strings.TrimSpace(string(raw))
		if tok == "null" {
			return nil, fmt.Sprintf("reward %d is null (a NaN or infinite score on the server?)", i)
		}
		if tok == "" || !(tok[0] == '-' || tok[0] >= '0' && tok[0] <= '9') {
			return nil, fmt.Sprintf("reward %d is %s, not a number", i, trimTo(tok, 40))
		}
		v, err := strconv.ParseFloat(tok, 64)
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Sprintf("reward %d is %s, not a finite number", i, trimTo(tok, 40))
		}
		if err != nil {
			return nil, fmt.Sprintf("reward %d is %s, not a number", i, trimTo(tok, 40))
		}
		if math.Abs(v) > MaxRewardMagnitude {
			return nil, fmt.Sprintf("reward %d is %s, beyond ±%g: training statistics overflow on rewards this large (scale the server's scores)",
				i, trimTo(tok, 40), MaxRewardMagnitude)
		}
		out[i] = v
	}
	return out, ""
}

// snippet is a one-line, trimmed excerpt of an answer's body for error messages.
func snippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	return trimTo(s, 300)
}

// trimTo cuts s to at most n bytes on a rune boundary, marking the cut.
func trimTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
