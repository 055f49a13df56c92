package reward

// The server side of rewards over HTTP (see remote.go for the protocol).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// MaxRequestBytes bounds the body of a /compute request (about 1000 PNGs of 512×512).
const MaxRequestBytes = 256 << 20

// maxRequestBytes is MaxRequestBytes, lowered by tests.
var maxRequestBytes int64 = MaxRequestBytes

// Handler serves r over HTTP:
//
//	GET  /health   200 {"status": "ok", "reward": name}
//	POST /compute  {"prompt": [...], "image": [base64 PNG, ...]} → 200 {"rewards": [...]}
//
// Other keys of the request (Flow-Factory sends "video", "condition_images", … as null) are
// ignored. A malformed request is answered 400 {"error": ...} naming what is wrong and, for an
// image, its index; a body over MaxRequestBytes 413; a reward that fails on the images 422 (the
// request, not the server, is at fault, so clients should not retry). Each request is logged
// with its size and time.
func Handler(r Reward, log zerolog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "reward": r.Name()})
	})
	mux.HandleFunc("POST /compute", func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		status, n, err := compute(r, w, req)
		ev := log.Info()
		if err != nil {
			ev = log.Warn().Int("status", status).Str("error", err.Error())
			writeJSON(w, status, map[string]string{"error": err.Error()})
		}
		ev.Str("reward", r.Name()).Int("images", n).Float64("seconds", math.Round(time.Since(start).Seconds()*1e4)/1e4).
			Str("from", req.RemoteAddr).Msg("compute")
	})
	return mux
}

// compute answers one /compute request, or returns the error status and message for the caller
// to send. n is the number of images asked for.
func compute(r Reward, w http.ResponseWriter, req *http.Request) (status, n int, err error) {
	var in struct {
		Prompt []string  `json:"prompt"`
		Image  []*string `json:"image"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxRequestBytes))
	if err := dec.Decode(&in); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, 0, fmt.Errorf("request body exceeds the server's limit of %d MiB; send fewer images per request", maxRequestBytes>>20)
		}
		return http.StatusBadRequest, 0, fmt.Errorf(`request body is not the expected JSON {"prompt": [...], "image": [...]}: %v`, err)
	}
	n = len(in.Image)
	switch {
	case in.Image == nil:
		return http.StatusBadRequest, 0, errors.New(`"image" is missing or null: this server scores images (a list of base64 PNGs)`)
	case n == 0:
		return http.StatusBadRequest, 0, errors.New(`"image" is empty: nothing to score`)
	case in.Prompt == nil:
		return http.StatusBadRequest, n, errors.New(`"prompt" is missing or null: send one prompt per image`)
	case len(in.Prompt) != n:
		return http.StatusBadRequest, n, fmt.Errorf(`"prompt" has %d entries for %d images: send one prompt per image`, len(in.Prompt), n)
	}
	imgs := make([]image.Image, n)
	for i, s := range in.Image {
		if s == nil {
			return http.StatusBadRequest, n, fmt.Errorf("image %d is null", i)
		}
		if imgs[i], err = decodeImage(*s); err != nil {
			return http.StatusBadRequest, n, fmt.Errorf("image %d: %v", i, err)
		}
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

// decodeImage reads one base64 PNG; a "data:image/png;base64," prefix is accepted.
func decodeImage(s string) (image.Image, error) {
	if strings.HasPrefix(s, "data:") {
		if _, after, ok := strings.Cut(s, ","); ok {
			s = after
		}
	}
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not standard base64: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not a PNG (%d bytes after base64): %v", len(data), err)
	}
	return img, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}
