package reward

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/flowtune/flowtune/rl/reward/rewardtest"
	"hash/crc32"
	"image"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// declaredPNG is a small PNG whose header declares w×h pixels of 16-bit RGBA, followed by a
// short stream of zero rows: a decoder that trusts the header allocates w·h·8 bytes first.
func declaredPNG(t testing.TB, w, h uint32) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(kind string, data []byte) {
		binary.Write(&out, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		io.WriteString(crc, kind)
		crc.Write(data)
		out.WriteString(kind)
		out.Write(data)
		binary.Write(&out, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 16, 6 // bit depth 16, colour type RGBA
	chunk("IHDR", ihdr)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, 64<<10))
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

// postJSON sends body to url's /compute as application/json (header: more name, value pairs)
// and returns the status and the answer's error message.
func postJSON(t *testing.T, url, body string, header ...string) (int, string) {
	t.Helper()
	status, msg, err := tryPost(url, body, header...)
	if err != nil {
		t.Fatal(err)
	}
	return status, msg
}

// tryPost is postJSON for other goroutines than the test's.
func tryPost(url, body string, header ...string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/compute", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var ans struct {
		Error string `json:"error"`
	}
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &ans); err != nil {
		return 0, "", fmt.Errorf("answer %q is not JSON", data)
	}
	return resp.StatusCode, ans.Error, nil
}

// allocated runs f and returns the bytes the process allocated meanwhile.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A request of a few hundred bytes whose PNG declares a huge image is answered 413, naming the
// limit, without the server allocating the image: the process allocates under 16 MiB to
// answer it (decoding a 6000×6000 16-bit header would take 288 MB; 65535×65535, 34 GB).
func TestServerRejectsDeclaredHugePNG(t *testing.T) {
	srv := httptest.NewServer(Handler(rewardtest.Brightness{}, zerolog.Nop()))
	defer srv.Close()
	for _, side := range []uint32{6000, 65535} {
		data := declaredPNG(t, side, side)
		body := fmt.Sprintf(`{"prompt": ["a"], "image": [%q]}`, base64.StdEncoding.EncodeToString(data))
		var status int
		var msg string
		n := allocated(func() { status, msg = postJSON(t, srv.URL, body) })
		if status != http.StatusRequestEntityTooLarge || !strings.Contains(msg, fmt.Sprintf("%d×%d", side, side)) ||
			!strings.Contains(msg, "limit of 1048576 pixels per image") {
			t.Fatalf("%d×%d PNG (%d-byte request): status %d, %q; want 413 naming the size and the limit", side, side, len(body), status, msg)
		}
		if n > 16<<20 {
			t.Fatalf("%d×%d PNG (%d-byte request): the process allocated %d MiB to reject it", side, side, len(body), n>>20)
		}
	}
}

// Many small images, each within the per-image limit, stop at the request's limit of decoded
// memory (this test's: 10 images of 64×64 RGBA) and at its image count, before scoring.
func TestServerBoundsDecodedMemoryPerRequest(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	enc, err := EncodePNG(img)
	if err != nil {
		t.Fatal(err)
	}
	body := func(n int) string {
		ps, is := make([]string, n), make([]string, n)
		for i := range is {
			ps[i], is[i] = "a", enc
		}
		b, _ := json.Marshal(map[string][]string{"prompt": ps, "image": is})
		return string(b)
	}
	h := NewHandler(rewardtest.Brightness{}, zerolog.Nop(), ServerOptions{MaxDecodedBytes: 10 * 64 * 64 * 4, MaxImages: 12})
	srv := httptest.NewServer(h)
	defer srv.Close()
	if status, msg := postJSON(t, srv.URL, body(10)); status != http.StatusOK {
		t.Fatalf("10 images within the limit: %d %s", status, msg)
	}
	status, msg := postJSON(t, srv.URL, body(11))
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "image 10") || !strings.Contains(msg, "decoded") {
		t.Fatalf("11 images over the decoded limit: %d %q", status, msg)
	}
	status, msg = postJSON(t, srv.URL, body(13))
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "13 images exceed the server's limit of 12") {
		t.Fatalf("13 images over the count limit: %d %q", status, msg)
	}
}

// Only application/json bodies are read: a web page's form or text/plain post (sent without a
// CORS preflight) is refused with 415 before anything is decoded.
func TestServerWantsJSON(t *testing.T) {
	srv := httptest.NewServer(Handler(rewardtest.Brightness{}, zerolog.Nop()))
	defer srv.Close()
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"} {
		status, msg := postJSON(t, srv.URL, `{"prompt": ["a"], "image": ["x"]}`, "Content-Type", ct)
		if status != http.StatusUnsupportedMediaType || !strings.Contains(msg, "application/json") {
			t.Fatalf("Content-Type %q: %d %q, want 415", ct, status, msg)
		}
	}
	if status, msg := postJSON(t, srv.URL, `{"prompt": ["a"], "image": []}`, "Content-Type", "application/json; charset=utf-8"); status != http.StatusBadRequest || !strings.Contains(msg, "empty") {
		t.Fatalf("application/json with a charset: %d %q, want the request read (400 for no images)", status, msg)
	}
}

// With a token, every request needs Authorization: Bearer <token>; without it the answer is 401.
func TestServerToken(t *testing.T) {
	srv := httptest.NewServer(NewHandler(rewardtest.Brightness{}, zerolog.Nop(), ServerOptions{Token: "s3cret"}))
	defer srv.Close()
	body := `{"prompt": [], "image": []}`
	for _, auth := range []string{"", "Bearer", "Bearer wrong", "Basic czNjcmV0", "bearer s3cret", "Bearer s3cret2"} {
		if status, msg := postJSON(t, srv.URL, body, "Authorization", auth); status != http.StatusUnauthorized || !strings.Contains(msg, "token") {
			t.Fatalf("Authorization %q: %d %q, want 401", auth, status, msg)
		}
	}
	if status, _ := postJSON(t, srv.URL, body, "Authorization", "Bearer s3cret"); status != http.StatusBadRequest {
		t.Fatalf("right token: %d, want the request read (400 for no images)", status)
	}
	for auth, want := range map[string]int{"": 401, "Bearer s3cret": 200} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/health", nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET /health with %q: %d, want %d", auth, resp.StatusCode, want)
		}
	}
}

// gate is a reward that signals each Score on entered and holds it until release is closed.
type gate struct{ entered, release chan struct{} }

func (gate) Name() string { return "gate" }

func (g gate) Score(string, image.Image) (float64, error) {
	g.entered <- struct{}{}
	<-g.release
	return 1, nil
}

// Requests beyond MaxInFlight wait for a slot; beyond MaxQueued at once, and after QueueWait,
// they get 503 with Retry-After (which clients retry). /health is answered all along.
func TestServerBoundsRequestsInFlight(t *testing.T) {
	g := gate{make(chan struct{}, 8), make(chan struct{})}
	const wait = 2 * time.Second
	h, lim := newHandler(g, zerolog.Nop(), ServerOptions{MaxInFlight: 1, MaxQueued: 1, QueueWait: wait})
	srv := httptest.NewServer(h)
	defer srv.Close()
	released := false
	defer func() {
		if !released {
			close(g.release)
		}
	}()
	img, _ := EncodePNG(image.NewRGBA(image.Rect(0, 0, 32, 32)))
	body := fmt.Sprintf(`{"prompt": ["a"], "image": [%q]}`, img)
	type answer struct {
		status int
		msg    string
	}
	send := func() chan answer {
		c := make(chan answer, 1)
		go func() {
			s, m, err := tryPost(srv.URL, body)
			if err != nil {
				m = err.Error()
			}
			c <- answer{s, m}
		}()
		return c
	}

	held := send()
	<-g.entered // the first request holds the only slot
	queued := send()
	for lim.waiting.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	// With one request held and one waiting, a third is turned away without waiting (the
	// message tells the full queue from the queue's timeout).
	if s, msg := postJSON(t, srv.URL, body); s != http.StatusServiceUnavailable || !strings.Contains(msg, "1 waiting") {
		t.Fatalf("a third request while one is held and one waits: %d %q", s, msg)
	}
	resp, err := http.Get(srv.URL + "/health")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/health while busy: %v %v", resp, err)
	}
	resp.Body.Close()
	if a := <-queued; a.status != http.StatusServiceUnavailable || !strings.Contains(a.msg, "no slot for 2s") {
		t.Fatalf("the queued request: %d %q, want 503 after the queue wait", a.status, a.msg)
	}
	close(g.release)
	released = true
	if a := <-held; a.status != http.StatusOK {
		t.Fatalf("the held request: %d %q", a.status, a.msg)
	}
	if s, msg := postJSON(t, srv.URL, body); s != http.StatusOK {
		t.Fatalf("after the slot is free: %d %q", s, msg)
	}
}

// A 503 for a busy server carries Retry-After.
func TestServerBusyRetryAfter(t *testing.T) {
	g := gate{make(chan struct{}, 8), make(chan struct{})}
	h := NewHandler(g, zerolog.Nop(), ServerOptions{MaxInFlight: 1, MaxQueued: 1, QueueWait: time.Millisecond})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer close(g.release)
	img, _ := EncodePNG(image.NewRGBA(image.Rect(0, 0, 32, 32)))
	body := fmt.Sprintf(`{"prompt": ["a"], "image": [%q]}`, img)
	go tryPost(srv.URL, body)
	<-g.entered
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/compute", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("busy: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
