package reward

// The server side of rewards over HTTP (see remote.go for the protocol). What one request may
// cost is bounded before it is paid: the body by its size, each image by the size its PNG header
// declares (read before any pixel is decoded), a request's images by their decoded memory, and
// the server by how many requests it decodes and scores at once (server_limits.go).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Handler serves r over HTTP with the default ServerOptions; see NewHandler.
func Handler(r Reward, log zerolog.Logger) http.Handler {
	return NewHandler(r, log, ServerOptions{})
}

// NewHandler serves r over HTTP:
//
//	GET  /health   200 {"status": "ok", "reward": name}
//	POST /compute  {"prompt": [...], "image": [base64 PNG, ...]} → 200 {"rewards": [...]}
//
// Other keys of the request (Flow-Factory sends "video", "condition_images", … as null) are
// ignored. The answers that are not 200 are {"error": ...}, saying what is wrong:
//
//	400  the request is malformed (naming the key or the image's index)
//	401  a token is required (o.Token) and the request's Authorization: Bearer is missing or wrong
//	413  the body, an image or the request's images exceed a limit of o (naming it)
//	415  the body is not Content-Type application/json (this also keeps web pages from posting
//	     to a local server without a CORS preflight)
//	422  the reward fails on the images (the request, not the server, is at fault)
//	503  the server is busy (o.MaxInFlight requests scored and o.MaxQueued waiting): retry later
//
// A client should not retry a 4xx: the same request fails the same way. Each request is logged
// with its size and time.
func NewHandler(r Reward, log zerolog.Logger, o ServerOptions) http.Handler {
	h, _ := newHandler(r, log, o)
	return h
}

// newHandler is NewHandler, also returning its limiter (for tests to watch the queue).
func newHandler(r Reward, log zerolog.Logger, o ServerOptions) (http.Handler, *limiter) {
	o = o.withDefaults()
	lim := newLimiter(o)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, req *http.Request) {
		if !o.authorized(req) {
			writeError(w, http.StatusUnauthorized, errUnauthorized)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "reward": r.Name()})
	})
	mux.HandleFunc("POST /compute", func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		status, n, err := serveCompute(r, o, lim, w, req)
		ev := log.Info()
		if err != nil {
			ev = log.Warn().Int("status", status).Str("error", err.Error())
			writeError(w, status, err)
		}
		ev.Str("reward", r.Name()).Int("images", n).Float64("seconds", math.Round(time.Since(start).Seconds()*1e4)/1e4).
			Str("from", req.RemoteAddr).Msg("compute")
	})
	return mux, lim
}

var errUnauthorized = errors.New("missing or wrong token: this server requires the header Authorization: Bearer <token> " +
	"(finetune sends the token of FLOWTUNE_REWARD_TOKEN or of the file named by reward_token_file)")

// serveCompute checks what the request may cost, waits for a slot, and answers it. It returns
// the error status and message for the caller to send, and the number of images asked for.
func serveCompute(r Reward, o ServerOptions, lim *limiter, w http.ResponseWriter, req *http.Request) (status, n int, err error) {
	if !o.authorized(req) {
		return http.StatusUnauthorized, 0, errUnauthorized
	}
	if ct := req.Header.Get("Content-Type"); !isJSON(ct) {
		return http.StatusUnsupportedMediaType, 0, fmt.Errorf("Content-Type %q: send the body as application/json", ct)
	}
	if req.ContentLength > o.MaxBodyBytes {
		return http.StatusRequestEntityTooLarge, 0, bodyLimitError(o)
	}
	// The connection's deadlines count from when the request arrived; the time spent waiting
	// for a slot must not eat into answering, reading the body or scoring it. (A recorder in
	// tests has no deadlines: the errors say so and are ignored.)
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(o.QueueWait + o.BodyTimeout))
	release, err := lim.acquire(req.Context())
	if err != nil {
		w.Header().Set("Retry-After", "1")
		return http.StatusServiceUnavailable, 0, err
	}
	defer release()
	rc.SetReadDeadline(time.Now().Add(o.BodyTimeout))
	rc.SetWriteDeadline(time.Now().Add(o.ScoreTimeout))
	return compute(r, o, w, req)
}

// isJSON reports whether a Content-Type header is application/json (parameters such as
// charset allowed).
func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

func bodyLimitError(o ServerOptions) error {
	return fmt.Errorf("request body exceeds the server's limit of %s; send fewer images per request", mib(o.MaxBodyBytes))
}

// mib formats a byte count for messages.
func mib(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// compute answers one /compute request whose cost so far has been admitted.
func compute(r Reward, o ServerOptions, w http.ResponseWriter, req *http.Request) (status, n int, err error) {
	body, err := readBody(w, req, o.MaxBodyBytes)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, 0, bodyLimitError(o)
		}
		return http.StatusBadRequest, 0, fmt.Errorf("reading the request body: %v", err)
	}
	var in struct {
		Prompt []string  `json:"prompt"`
		Image  []*string `json:"image"`
	}
	err = json.Unmarshal(body, &in)
	body = nil // the strings are copies: let the raw body go while the images are decoded
	if err != nil {
		return http.StatusBadRequest, 0, fmt.Errorf(`request body is not the expected JSON {"prompt": [...], "image": [...]}: %v`, err)
	}
	n = len(in.Image)
	switch {
	case in.Image == nil:
		return http.StatusBadRequest, 0, errors.New(`"image" is missing or null: this server scores images (a list of base64 PNGs)`)
	case n == 0:
		return http.StatusBadRequest, 0, errors.New(`"image" is empty: nothing to score`)
	case n > o.MaxImages:
		return http.StatusRequestEntityTooLarge, n, fmt.Errorf("%d images exceed the server's limit of %d per request; send fewer images per request", n, o.MaxImages)
	case in.Prompt == nil:
		return http.StatusBadRequest, n, errors.New(`"prompt" is missing or null: send one prompt per image`)
	case len(in.Prompt) != n:
		return http.StatusBadRequest, n, fmt.Errorf(`"prompt" has %d entries for %d images: send one prompt per image`, len(in.Prompt), n)
	}
	imgs := make([]image.Image, n)
	var used int64 // decoded bytes of the images so far
	for i, s := range in.Image {
		if s == nil {
			return http.StatusBadRequest, n, fmt.Errorf("image %d is null", i)
		}
		var st int
		if imgs[i], st, err = decodeImage(*s, o, &used); err != nil {
			return st, n, fmt.Errorf("image %d: %v", i, err)
		}
		in.Image[i] = nil // its base64 text is no longer needed
	}
	scores, err := ScoreAll(r, in.Prompt, imgs)
	if err != nil {
		return http.StatusUnprocessableEntity, n, fmt.Errorf("scoring failed: %v", err)
	}
	for i, v := range scores {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return http.StatusUnprocessableEntity, n, fmt.Errorf("reward %s gave image %d the non-finite score %v", r.Name(), i, v)
		}
	}
	writeJSON(w, http.StatusOK, map[string][]float64{"rewards": scores})
	return http.StatusOK, n, nil
}

// readBody reads the whole body, at most limit bytes (an *http.MaxBytesError beyond), into a
// buffer sized once from Content-Length when the client sent one.
func readBody(w http.ResponseWriter, req *http.Request, limit int64) ([]byte, error) {
	rd := http.MaxBytesReader(w, req.Body, limit)
	if req.ContentLength > 0 && req.ContentLength <= limit {
		buf := make([]byte, req.ContentLength+1) // +1 sees a body longer than announced
		k, err := io.ReadFull(rd, buf)
		switch {
		case err == io.ErrUnexpectedEOF || err == io.EOF:
			return buf[:k], nil
		case err != nil:
			return nil, err
		}
		return nil, fmt.Errorf("the body is longer than its Content-Length %d", req.ContentLength)
	}
	return io.ReadAll(rd)
}

// decodeImage reads one base64 PNG; a "data:image/png;base64," prefix is accepted. The PNG's
// header is checked before its pixels are decoded: at most o.MaxImagePixels pixels, and *used
// (the decoded bytes of the request's images so far, which it adds to) stays within
// o.MaxDecodedBytes. On error it returns the status to answer.
func decodeImage(s string, o ServerOptions, used *int64) (image.Image, int, error) {
	if strings.HasPrefix(s, "data:") {
		if _, after, ok := strings.Cut(s, ","); ok {
			s = after
		}
	}
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("not standard base64: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("not a PNG (%d bytes after base64): %v", len(data), err)
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	if px > o.MaxImagePixels {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the PNG declares %d×%d pixels, over the server's limit of %d pixels per image",
			cfg.Width, cfg.Height, o.MaxImagePixels)
	}
	cost := px * bytesPerPixel(cfg.ColorModel)
	if *used+cost > o.MaxDecodedBytes {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("decoding its %d×%d pixels would take the request's images over the server's limit of %s decoded; send fewer or smaller images per request",
			cfg.Width, cfg.Height, mib(o.MaxDecodedBytes))
	}
	*used += cost
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("not a PNG (%d bytes after base64): %v", len(data), err)
	}
	return img, 0, nil
}

func writeError(w http.ResponseWriter, status int, err error) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="flowtune reward"`)
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // messages read "<token>", not "\u003ctoken\u003e"
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		enc.Encode(map[string]string{"error": err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
