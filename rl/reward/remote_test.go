package reward

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/rl/reward/rewardtest"
)

var (
	sceneOnce    sync.Once
	scenePrompts []string
	sceneImages  []image.Image
	sceneErr     error
)

// scenes are world images, mildly degraded, with prompts: every other one its own caption, the
// others the caption of another image, so that the rewards disagree between images.
func scenes(t testing.TB) ([]string, []image.Image) {
	t.Helper()
	sceneOnce.Do(func() {
		cfg := world.DefaultConfig()
		cfg.TrainPrompts, cfg.HeldOutPrompts, cfg.TextFraction = 0, 0, 0
		w, err := world.New(cfg)
		if err != nil {
			sceneErr = err
			return
		}
		rng := rand.New(rand.NewSource(3))
		for range 10 {
			img, caption := w.Sample(rng)
			scenePrompts = append(scenePrompts, caption)
			sceneImages = append(sceneImages, noise(blur(img, 0.5), 20, rng))
		}
		captions := slices.Clone(scenePrompts)
		for i := 1; i < len(captions); i += 2 {
			scenePrompts[i] = captions[(i+4)%len(captions)]
		}
	})
	if sceneErr != nil {
		t.Fatal(sceneErr)
	}
	return scenePrompts, sceneImages
}

// counting serves h and counts the POST /compute requests it gets.
func counting(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/compute") {
			n.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// flaky answers POST /compute with fail(n) for the n-th request (1-based) while it returns a
// status, and passes everything else to the real handler of the brightness reward.
func flaky(t *testing.T, fail func(n int64) (int, string)) (*httptest.Server, *atomic.Int64) {
	real := Handler(rewardtest.Brightness{}, zerolog.Nop())
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if status, body := fail(n.Add(1)); status != 0 {
				w.WriteHeader(status)
				io.WriteString(w, body)
				return
			}
		}
		real.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func fastRetries() RemoteOptions {
	return RemoteOptions{Timeout: 5 * time.Second, Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
}

func mustRemote(t *testing.T, name, url string, o RemoteOptions) *Remote {
	t.Helper()
	m, err := NewRemote(name, url, o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wantParts(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

// Scores fetched over loopback HTTP from Handler equal the in-process scores bit for bit (PNG
// carries 8-bit RGBA exactly and JSON carries float64 exactly), whether a call is one request or
// split into batches.
func TestRemoteMatchesInProcess(t *testing.T) {
	prompts, imgs := scenes(t)
	compose, _ := ByName("compose")
	pref, _ := ByName("pref")
	for _, r := range []Reward{compose, pref, rewardtest.Brightness{}} {
		want, err := ScoreAll(r, prompts, imgs)
		if err != nil {
			t.Fatal(err)
		}
		distinct := map[float64]bool{}
		for _, v := range want {
			distinct[v] = true
		}
		if len(distinct) < 2 {
			t.Fatalf("%s gives every test image %v: the comparison would prove little", r.Name(), want)
		}
		srv, requests := counting(t, Handler(r, zerolog.Nop()))
		for _, batch := range []int{0, 4} {
			requests.Store(0)
			o := fastRetries()
			o.BatchSize = batch
			m := mustRemote(t, r.Name(), srv.URL, o)
			got, err := ScoreAll(m, prompts, imgs)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s, batch %d: image %d scores %v over HTTP, %v in process", r.Name(), batch, i, got[i], want[i])
				}
			}
			wantReq := int64(1)
			if batch > 0 {
				wantReq = int64((len(imgs) + batch - 1) / batch)
			}
			if n := requests.Load(); n != wantReq {
				t.Fatalf("%s, batch %d: %d requests for %d images, want %d", r.Name(), batch, n, len(imgs), wantReq)
			}
			one, err := m.Score(prompts[3], imgs[3])
			if err != nil || one != want[3] {
				t.Fatalf("%s: Score gives %v (%v), want %v", r.Name(), one, err, want[3])
			}
		}
	}
}

// 429 and 503 are retried (and logged); the call succeeds on the third request.
func TestRemoteRetriesTransientFailures(t *testing.T) {
	prompts, imgs := scenes(t)
	srv, n := flaky(t, func(n int64) (int, string) {
		switch n {
		case 1:
			return http.StatusTooManyRequests, `{"error":"slow down"}`
		case 2:
			return http.StatusServiceUnavailable, `{"error":"model loading"}`
		}
		return 0, ""
	})
	var logBuf bytes.Buffer
	log := zerolog.New(&logBuf)
	o := fastRetries()
	o.Log = &log
	got, err := ScoreAll(mustRemote(t, "brightness", srv.URL, o), prompts, imgs)
	if err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 {
		t.Fatalf("server saw %d requests, want 3 (two failures, one success)", n.Load())
	}
	want, _ := ScoreAll(rewardtest.Brightness{}, prompts, imgs)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("image %d: %v after retries, want %v", i, got[i], want[i])
		}
	}
	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"status":429`) || !strings.Contains(lines[1], "model loading") {
		t.Fatalf("want one warning per retry, got:\n%s", logBuf.String())
	}
}

// A server that keeps failing costs exactly Attempts requests, and the error says everything.
func TestRemoteGivesUpAfterAttempts(t *testing.T) {
	prompts, imgs := scenes(t)
	srv, n := flaky(t, func(int64) (int, string) {
		return http.StatusServiceUnavailable, `{"error": "model loading"}`
	})
	_, err := ScoreAll(mustRemote(t, "brightness", srv.URL, fastRetries()), prompts, imgs)
	wantParts(t, err, "reward brightness@"+srv.URL, "POST /compute", "503 Service Unavailable after 3 attempts", `{"error": "model loading"}`)
	if n.Load() != 3 {
		t.Fatalf("server saw %d requests, want 3", n.Load())
	}
	var re *RemoteError
	if !errors.As(err, &re) || re.Status != 503 || re.Attempts != 3 {
		t.Fatalf("error %v is not a RemoteError with status 503 after 3 attempts", err)
	}

	o := fastRetries()
	o.Attempts = 5
	n.Store(0)
	_, err = ScoreAll(mustRemote(t, "brightness", srv.URL, o), prompts, imgs)
	wantParts(t, err, "after 5 attempts")
	if n.Load() != 5 {
		t.Fatalf("Attempts 5: server saw %d requests", n.Load())
	}
}

// A 4xx other than 429 is the request's fault: no retry, and the body (trimmed) is in the error.
func TestRemoteDoesNotRetryClientErrors(t *testing.T) {
	prompts, imgs := scenes(t)
	srv, n := flaky(t, func(int64) (int, string) {
		return http.StatusBadRequest, `{"error": "image 0: not a PNG"}`
	})
	_, err := ScoreAll(mustRemote(t, "brightness", srv.URL, fastRetries()), prompts, imgs)
	wantParts(t, err, srv.URL, "400 Bad Request after 1 attempt", "not retried", `{"error": "image 0: not a PNG"}`)
	if n.Load() != 1 {
		t.Fatalf("a 400 was retried: %d requests", n.Load())
	}

	long := strings.Repeat("x", 20000)
	srv, _ = flaky(t, func(int64) (int, string) { return http.StatusNotFound, "<html>" + long + "</html>" })
	_, err = ScoreAll(mustRemote(t, "brightness", srv.URL, fastRetries()), prompts, imgs)
	wantParts(t, err, "404 Not Found", "<html>xxx", "…")
	if len(err.Error()) > 1000 {
		t.Fatalf("a 20 kB body makes a %d-byte error message", len(err.Error()))
	}
}

// A server slower than Timeout: every attempt is cut off, the error says so, and the call ends
// within a few timeouts.
func TestRemoteTimeout(t *testing.T) {
	prompts, imgs := scenes(t)
	var n atomic.Int64
	real := Handler(rewardtest.Brightness{}, zerolog.Nop())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			n.Add(1)
			io.Copy(io.Discard, r.Body) // then the server notices when the client hangs up
			select {
			case <-time.After(20 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		real.ServeHTTP(w, r)
	}))
	defer srv.Close()
	o := fastRetries()
	o.Timeout = 100 * time.Millisecond
	m := mustRemote(t, "brightness", srv.URL, o)
	start := time.Now()
	_, err := ScoreAll(m, prompts[:2], imgs[:2])
	took := time.Since(start)
	wantParts(t, err, "reward brightness@"+srv.URL, "timeout", "100ms", "after 3 attempts")
	if took < 300*time.Millisecond || took > 10*time.Second {
		t.Fatalf("three 100 ms attempts took %v", took)
	}
	if n.Load() != 3 {
		t.Fatalf("server saw %d requests, want 3", n.Load())
	}
}

// Answers that are 200 but unusable are clear errors, not retried.
func TestRemoteRejectsMalformedAnswers(t *testing.T) {
	prompts, imgs := scenes(t)
	cases := []struct{ body, want string }{
		{"hello", "not the expected JSON"},
		{`{"rewards": [0.5]}`, "1 rewards for 2 images"},
		{`{"rewards": [0.5, null]}`, "reward 1 is null"},
		{`{"rewards": [0.5, 1e999]}`, "reward 1 is 1e999, not a finite number"},
		{`{"rewards": [NaN, 0.5]}`, "NaN or Infinity"},
		{`{"rewards": ["0.5", 0.5]}`, `reward 0 is "0.5", not a number`},
		{`{"error": "CUDA out of memory"}`, `the server reports an error: "CUDA out of memory"`},
		{`{"scores": [1, 2]}`, `no "rewards" list`},
	}
	for _, c := range cases {
		srv, n := flaky(t, func(int64) (int, string) { return http.StatusOK, c.body })
		_, err := ScoreAll(mustRemote(t, "brightness", srv.URL, fastRetries()), prompts[:2], imgs[:2])
		wantParts(t, err, "reward brightness@"+srv.URL, "200 OK after 1 attempt", c.want)
		if n.Load() != 1 {
			t.Fatalf("answer %s: %d requests, want 1", c.body, n.Load())
		}
	}
}

// The constructor checks GET /health and says how to start a server when none answers.
func TestNewRemoteChecksHealth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = NewRemote("compose", "http://"+addr, fastRetries())
	wantParts(t, err, "reward compose@http://"+addr, "GET /health", "no answer", "is the server running?",
		"go run ./cmd/rewardserver -reward compose -addr "+addr)
	_, err = NewRemote("pickscore", "http://"+addr, fastRetries())
	wantParts(t, err, "is the server running?", "compose, compose_strict")

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "warming up", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	_, err = NewRemote("compose", down.URL, fastRetries())
	wantParts(t, err, "GET /health", "503 Service Unavailable", "warming up", "not ready")

	for _, bad := range []string{"ftp://h:1", "http://", "127.0.0.1:8700", "http://h:1=x"} {
		if _, err := NewRemote("compose", bad, fastRetries()); err == nil {
			t.Fatalf("URL %q accepted", bad)
		}
	}

	// A path and a query on the URL are kept: the endpoints are appended to the path.
	var seen []string
	var mu sync.Mutex
	real := Handler(rewardtest.Brightness{}, zerolog.Nop())
	srv := httptest.NewServer(http.StripPrefix("/v1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		real.ServeHTTP(w, r)
	})))
	defer srv.Close()
	prompts, imgs := scenes(t)
	if _, err := ScoreAll(mustRemote(t, "brightness", srv.URL+"/v1/?model=big", fastRetries()), prompts[:1], imgs[:1]); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seen, ", "); got != "GET /health?model=big, POST /compute?model=big" {
		t.Fatalf("requests: %s", got)
	}
}

// post sends body to h's /compute and returns the status and the decoded answer.
func post(t *testing.T, h http.Handler, body string) (int, map[string]any) {
	t.Helper()
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/compute", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(w, req)
	var ans map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
		t.Fatalf("answer to %.60s… is not JSON: %q", body, w.Body.String())
	}
	return w.Code, ans
}

func TestHandlerValidatesRequests(t *testing.T) {
	prompts, imgs := scenes(t)
	good, err := EncodePNG(imgs[0])
	if err != nil {
		t.Fatal(err)
	}
	notPNG := base64.StdEncoding.EncodeToString([]byte("GIF89a, honestly"))
	h := Handler(rewardtest.Brightness{}, zerolog.Nop())
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	cases := []struct {
		body   string
		status int
		want   []string
	}{
		{`{"prompt": ["a"`, 400, []string{"not the expected JSON"}},
		{`{"prompt": ["a"]}`, 400, []string{`"image" is missing`}},
		{`{"prompt": [], "image": []}`, 400, []string{`"image" is empty`}},
		{fmt.Sprintf(`{"image": [%s]}`, q(good)), 400, []string{`"prompt" is missing`}},
		{fmt.Sprintf(`{"prompt": ["a"], "image": [%s, %s]}`, q(good), q(good)), 400, []string{`"prompt" has 1 entries for 2 images`}},
		{fmt.Sprintf(`{"prompt": ["a", "b"], "image": [%s, "%%%%not base64"]}`, q(good)), 400, []string{"image 1", "base64"}},
		{fmt.Sprintf(`{"prompt": ["a", "b", "c"], "image": [%s, %s, %s]}`, q(good), q(good), q(notPNG)), 400, []string{"image 2", "not a PNG"}},
		{fmt.Sprintf(`{"prompt": ["a", "b"], "image": [null, %s]}`, q(good)), 400, []string{"image 0 is null"}},
	}
	for _, c := range cases {
		status, ans := post(t, h, c.body)
		msg, _ := ans["error"].(string)
		if status != c.status {
			t.Fatalf("%.80s: status %d (%s), want %d", c.body, status, msg, c.status)
		}
		for _, p := range c.want {
			if !strings.Contains(msg, p) {
				t.Fatalf("%.80s: error %q does not mention %q", c.body, msg, p)
			}
		}
	}

	// Flow-Factory's request: the other keys present and null; a data-URL prefix is tolerated.
	body := fmt.Sprintf(`{"prompt": [%s, %s], "image": [%s, %s], "video": null, "condition_images": null, "condition_videos": null}`,
		q(prompts[0]), q(prompts[0]), q(good), q("data:image/png;base64,"+good))
	status, ans := post(t, h, body)
	want, _ := rewardtest.Brightness{}.Score("", imgs[0])
	if rs, ok := ans["rewards"].([]any); status != 200 || !ok || len(rs) != 2 || rs[0] != want || rs[1] != want {
		t.Fatalf("status %d answer %v, want rewards [%v %v]", status, ans, want, want)
	}

	// A reward that fails on an image: 422, naming it.
	compose, _ := ByName("compose")
	small, _ := EncodePNG(image.NewRGBA(image.Rect(0, 0, 8, 8)))
	status, ans = post(t, Handler(compose, zerolog.Nop()), fmt.Sprintf(`{"prompt": ["a red circle", "a red circle"], "image": [%s, %s]}`, q(good), q(small)))
	if msg, _ := ans["error"].(string); status != http.StatusUnprocessableEntity || !strings.Contains(msg, "image 1") {
		t.Fatalf("compose on an 8×8 image: status %d, answer %v", status, ans)
	}

	// The body limit.
	status, ans = post(t, NewHandler(rewardtest.Brightness{}, zerolog.Nop(), ServerOptions{MaxBodyBytes: 1 << 20}), fmt.Sprintf(`{"prompt": ["a"], "image": [%q]}`, strings.Repeat("A", 2<<20)))
	if msg, _ := ans["error"].(string); status != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "limit of 1 MiB") {
		t.Fatalf("oversized body: status %d, answer %v", status, ans)
	}

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/health", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"reward":"brightness"`) {
		t.Fatalf("GET /health: %d %s", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/compute", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /compute: %d", w.Code)
	}
}
