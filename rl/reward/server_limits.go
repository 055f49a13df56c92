package reward

// What a reward server spends on requests: the limits of ServerOptions, the token check, and
// the slots of the requests decoded and scored at once.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"image/color"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of ServerOptions. With them a server's memory stays within about
// MaxInFlight × (2 × MaxBodyBytes + MaxDecodedBytes) plus what the reward needs to score, about
// 800 MiB, whatever the requests declare.
const (
	DefaultMaxBodyBytes    = 64 << 20
	DefaultMaxImages       = 4096
	DefaultMaxImagePixels  = 1 << 20 // 1024×1024
	DefaultMaxDecodedBytes = 256 << 20
	DefaultMaxInFlight     = 2
	DefaultQueueWait       = 30 * time.Second
	DefaultBodyTimeout     = 30 * time.Second
	DefaultScoreTimeout    = 5 * time.Minute
)

// ServerOptions bound what a reward server spends on requests. Zero values take the defaults.
type ServerOptions struct {
	// MaxBodyBytes bounds a /compute body (default 64 MiB: some 300 base64 PNGs of 512×512).
	MaxBodyBytes int64
	// MaxImages bounds the images of one request (default 4096).
	MaxImages int
	// MaxImagePixels bounds one image's width × height, as its PNG header declares it, checked
	// before any pixel is decoded (default 1024×1024).
	MaxImagePixels int64
	// MaxDecodedBytes bounds the memory of one request's decoded images: width × height × the
	// bytes per pixel of the PNG's colour type, 8 for 16-bit RGBA (default 256 MiB).
	MaxDecodedBytes int64
	// MaxInFlight is how many /compute requests are read, decoded and scored at once (default
	// 2; scoring already spreads one request's images over every core).
	MaxInFlight int
	// MaxQueued is how many more wait for a slot (default 4 × MaxInFlight); beyond them, and
	// after QueueWait (default 30 s), a request is answered 503 with Retry-After.
	MaxQueued int
	QueueWait time.Duration
	// BodyTimeout bounds reading a body once the request has its slot (default 30 s), and
	// ScoreTimeout the scoring and the answer after it (default 5 min).
	BodyTimeout, ScoreTimeout time.Duration
	// Token, when not empty, is required on every request as Authorization: Bearer <Token>.
	Token string
}

func (o ServerOptions) withDefaults() ServerOptions {
	set := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&o.MaxBodyBytes, DefaultMaxBodyBytes)
	set(&o.MaxImagePixels, DefaultMaxImagePixels)
	set(&o.MaxDecodedBytes, DefaultMaxDecodedBytes)
	if o.MaxImages <= 0 {
		o.MaxImages = DefaultMaxImages
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 4 * o.MaxInFlight
	}
	for _, d := range []struct {
		v *time.Duration
		d time.Duration
	}{{&o.QueueWait, DefaultQueueWait}, {&o.BodyTimeout, DefaultBodyTimeout}, {&o.ScoreTimeout, DefaultScoreTimeout}} {
		if *d.v <= 0 {
			*d.v = d.d
		}
	}
	return o
}

// authorized reports whether req carries the token (always, when none is required). The
// comparison takes the same time whatever the token sent.
func (o ServerOptions) authorized(req *http.Request) bool {
	if o.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	a, b := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(o.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// bytesPerPixel is what the PNG decoder allocates per pixel for an image of colour model m.
func bytesPerPixel(m color.Model) int64 {
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.RGBAModel, color.NRGBAModel:
		return 4
	}
	return 8 // 16-bit RGBA, and anything unforeseen
}

// limiter hands out the slots of the requests served at once, with a bounded queue.
type limiter struct {
	slots   chan struct{}
	waiting atomic.Int64
	o       ServerOptions
}

func newLimiter(o ServerOptions) *limiter {
	return &limiter{slots: make(chan struct{}, o.MaxInFlight), o: o}
}

// acquire waits for a slot, at most QueueWait and only while fewer than MaxQueued others wait,
// and returns its release. The error says why no slot came.
func (l *limiter) acquire(ctx context.Context) (func(), error) {
	release := func() { <-l.slots }
	select {
	case l.slots <- struct{}{}:
		return release, nil
	default:
	}
	if l.waiting.Add(1) > int64(l.o.MaxQueued) {
		l.waiting.Add(-1)
		return nil, fmt.Errorf("server busy: %d requests in progress and %d waiting; retry later", l.o.MaxInFlight, l.o.MaxQueued)
	}
	defer l.waiting.Add(-1)
	t := time.NewTimer(l.o.QueueWait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, fmt.Errorf("server busy: no slot for %v (%d requests in progress); retry later", l.o.QueueWait, l.o.MaxInFlight)
	case <-ctx.Done():
		return nil, fmt.Errorf("request abandoned while waiting for a slot: %v", ctx.Err())
	}
}

// TokenEnv is the environment variable that holds the bearer token of reward servers: the
// client (finetune) sends it and cmd/rewardserver requires it, unless a token file is named.
const TokenEnv = "FLOWTUNE_REWARD_TOKEN"

// ReadToken returns the bearer token from the file path (when path is not empty) or else from
// TokenEnv, and says where it came from; "" when neither is set. The file holds the token alone
// (surrounding white space is dropped). A token must be printable ASCII without spaces, as a
// bearer token is.
func ReadToken(path string) (token, from string, err error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", "", fmt.Errorf("token file: %w", err)
		}
		token, from = strings.TrimSpace(string(data)), "token file "+path
		if token == "" {
			return "", "", fmt.Errorf("%s is empty: write the token into it", from)
		}
	} else {
		token, from = strings.TrimSpace(os.Getenv(TokenEnv)), "$"+TokenEnv
		if token == "" {
			return "", "", nil
		}
	}
	for _, c := range []byte(token) {
		if c < 0x21 || c > 0x7e {
			return "", "", fmt.Errorf("%s: the token must be one word of printable ASCII (found byte %#x)", from, c)
		}
	}
	return token, from, nil
}
