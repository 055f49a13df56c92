package reward

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
)

// FuzzParseAnswer feeds arbitrary answers to the client's parser: it either finds a problem or
// returns n finite rewards within ±MaxRewardMagnitude, and never panics.
//
//	go test -run '^$' -fuzz FuzzParseAnswer -fuzztime 60s ./rl/reward/
func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{
		`{"rewards": [0.5, 1]}`, `{"rewards": [0.5]}`, `{"rewards": [1e308, 0]}`, `{"rewards": [NaN, 1]}`,
		`{"rewards": [null, 1]}`, `{"rewards": ["1", 1]}`, `{"error": "boom"}`, `{"error": null, "rewards": [-0, 2e-308]}`,
		`{"rewards": [1e999, 1]}`, `{"rewards": [0x10, 1]}`, `{"rewards": [-.5, 1]}`, `[1, 2]`, `null`, ``, `{"rewards": {}}`,
		`{"rewards": [1, 2], "rewards": [3]}`, `{"Rewards": [1, 2]}`, "{\"rewards\": [1,\xff 2]}",
	} {
		f.Add([]byte(s), uint8(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		v, problem := parseAnswer(data, int(n))
		if problem != "" {
			if v != nil {
				t.Fatalf("%q: a problem (%s) and rewards %v", data, problem, v)
			}
			return
		}
		if len(v) != int(n) {
			t.Fatalf("%q: %d rewards for %d images", data, len(v), n)
		}
		for i, x := range v {
			if math.IsNaN(x) || math.Abs(x) > MaxRewardMagnitude {
				t.Fatalf("%q: reward %d is %v", data, i, x)
			}
		}
	})
}

// fuzzPNG encodes a small image of the given colour model for the seeds.
func fuzzPNG(f *testing.F, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzCompute feeds the /compute handler, with a real reward (compose: the detectors and the
// prompt parser run on whatever arrives) and small limits, two requests per input: raw as the
// whole body, and a well-formed body carrying img (as a base64 PNG) for prompt. Every answer is
// JSON, 200 with one finite reward per image or an expected error status with a message; nothing
// panics, and no request decodes more than the limits allow.
//
//	go test -run '^$' -fuzz FuzzCompute -fuzztime 60s ./rl/reward/
func FuzzCompute(f *testing.F) {
	prompts, imgs := scenes(f)
	world := fuzzPNG(f, imgs[0])
	gray := image.NewGray16(image.Rect(0, 0, 40, 40))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 13)
	}
	pal := image.NewPaletted(image.Rect(0, 0, 48, 32), color.Palette{color.Black, color.RGBA{255, 0, 0, 255}})
	pal.Pix[100] = 1
	for _, s := range []struct {
		raw    string
		img    []byte
		prompt string
	}{
		{fmt.Sprintf(`{"prompt": [%q], "image": [%q]}`, prompts[0], base64.StdEncoding.EncodeToString(world)), world, prompts[0]},
		{`{"prompt": ["a"], "image": [null]}`, fuzzPNG(f, gray), "two red circles"},
		{`{"prompt": [], "image": []}`, fuzzPNG(f, pal), `a sign that says "K"`},
		{`{"prompt": ["a", "b"], "image": ["data:,"]}`, declaredPNG(f, 65535, 65535), "a blue square left of a red star"},
		{`{"image": ["%%%"], "video": null}`, []byte("\x89PNG\r\n\x1a\n"), ""},
		{`{"prompt": ["a"], "image": ["iVBORw0KGgo="], "prompt": null}`, nil, "a"},
	} {
		f.Add([]byte(s.raw), s.img, s.prompt)
	}
	o := ServerOptions{MaxBodyBytes: 1 << 20, MaxImagePixels: 128 * 128, MaxDecodedBytes: 1 << 20, MaxImages: 16}
	compose, _ := ByName("compose")
	h := NewHandler(compose, zerolog.Nop(), o)
	send := func(t *testing.T, body []byte) (int, int) {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/compute", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(w, req)
		var ans struct {
			Rewards []float64 `json:"rewards"`
			Error   string    `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
			t.Fatalf("body %.200q: answer %q is not JSON", body, w.Body.String())
		}
		switch w.Code {
		case http.StatusOK:
			for _, v := range ans.Rewards {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("body %.200q: reward %v", body, v)
				}
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			if ans.Error == "" {
				t.Fatalf("body %.200q: status %d without a message", body, w.Code)
			}
		default:
			t.Fatalf("body %.200q: unexpected status %d: %s", body, w.Code, w.Body.String())
		}
		return w.Code, len(ans.Rewards)
	}
	f.Fuzz(func(t *testing.T, raw, img []byte, prompt string) {
		send(t, raw)
		body, _ := json.Marshal(map[string][]string{"prompt": {prompt}, "image": {base64.StdEncoding.EncodeToString(img)}})
		if code, n := send(t, body); code == http.StatusOK && n != 1 {
			t.Fatalf("one image, %d rewards", n)
		}
	})
}
