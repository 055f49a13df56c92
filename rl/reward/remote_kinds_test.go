package reward

import (
	"errors"
	"github.com/flowtune/flowtune/rl/reward/rewardtest"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// Each failure says what kind it is, in errors.Is and in words: a server that is down (resume
// once it is back), one that rejects the request (resuming fails the same way), one whose answer
// is unusable. Rewards beyond ±MaxRewardMagnitude are unusable answers, not scores.
func TestRemoteErrorKinds(t *testing.T) {
	prompts, imgs := scenes(t)
	cases := []struct {
		status int
		body   string
		kind   error
		want   []string
	}{
		{503, `{"error": "loading"}`, ErrServerDown, []string{"503", "after 3 attempts", "the server is down, overloaded or failing"}},
		{429, `{"error": "slow down"}`, ErrServerDown, []string{"429", "should pass once it answers again"}},
		{400, `{"error": "image 0: not a PNG"}`, ErrRejected, []string{"400", "after 1 attempt", "rejects the request itself (4xx)", "fails the same way"}},
		{422, `{"error": "scoring failed"}`, ErrRejected, []string{"422", "rejects the request itself"}},
		{413, `{"error": "too big"}`, ErrRejected, []string{"413", "exceeds one of the server's limits"}},
		{401, `{"error": "token"}`, ErrRejected, []string{"401", "set $FLOWTUNE_REWARD_TOKEN or reward_token_file (no token was sent)"}},
		{200, `{"rewards": [1e308, 0.5]}`, ErrBadAnswer, []string{"reward 0 is 1e308, beyond ±1e+12", "unusable"}},
		{200, `{"rewards": [0.5, -1e13]}`, ErrBadAnswer, []string{"reward 1 is -1e13"}},
		{200, `{"rewards": [NaN, 0.5]}`, ErrBadAnswer, []string{"NaN or Infinity"}},
	}
	for _, c := range cases {
		srv, _ := flaky(t, func(int64) (int, string) { return c.status, c.body })
		_, err := ScoreAll(mustRemote(t, "luma", srv.URL, fastRetries()), prompts[:2], imgs[:2])
		wantParts(t, err, c.want...)
		for _, k := range []error{ErrServerDown, ErrRejected, ErrBadAnswer} {
			if errors.Is(err, k) != (k == c.kind) {
				t.Fatalf("%d %s: errors.Is(err, %v) = %v: %v", c.status, c.body, k, !(k == c.kind), err)
			}
		}
	}
	// 1e308 and -1e13 are finite: without the bound they would pass here and overflow later.
	if v, problem := parseAnswer([]byte(`{"rewards": [1e12, -1e12]}`), 2); problem != "" || v[0] != 1e12 {
		t.Fatalf("rewards at the bound: %v %q", v, problem)
	}

	// No server at all: down, with the hint to start one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = NewRemote("compose", "http://"+addr, fastRetries())
	if !errors.Is(err, ErrServerDown) || errors.Is(err, ErrRejected) {
		t.Fatalf("no server: %v is not ErrServerDown", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8700":                             "http://127.0.0.1:8700",
		"http://u:p4ss@h:1/v1":                              "http://REDACTED@h:1/v1",
		"https://tok3n@rm.example/x":                        "https://REDACTED@rm.example/x",
		"http://h:1/?model=big&token=abc&API-Key=k&x_sig=1": "http://h:1/?model=big&token=REDACTED&API-Key=REDACTED&x_sig=1",
		"http://h:1/?access_token=a&sig=s&auth=z&code=c&n=": "http://h:1/?access_token=REDACTED&sig=REDACTED&auth=REDACTED&code=REDACTED&n=",
		"http://h:1/?X-Amz-Signature=s&X-Amz-Credential=c":  "http://h:1/?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED",
		"http://h:1/#frag":                                  "http://h:1/",
		"http://u:p@h:1/%zz?token=t":                        "http://REDACTED@h:1/%zz?token=REDACTED",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// Credentials in the URL are sent to the server, never shown: errors and URL() carry the
// redacted form; a URL read back redacted is refused, saying where the real credentials go. A
// token is sent as a bearer token.
func TestRemoteCredentials(t *testing.T) {
	prompts, imgs := scenes(t)
	real := NewHandler(rewardtest.Brightness{}, zerolog.Nop(), ServerOptions{Token: "t0k"})
	var gotUser, gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); ok {
			gotUser = u + ":" + p
		}
		gotQuery = r.URL.Query().Get("token")
		if r.Method == http.MethodPost {
			http.Error(w, `{"error": "nope"}`, http.StatusServiceUnavailable)
			return
		}
		r.Header.Del("Authorization")
		r.Header.Set("Authorization", "Bearer t0k")
		real.ServeHTTP(w, r)
	}))
	defer srv.Close()
	raw := strings.Replace(srv.URL, "http://", "http://alice:hunter2@", 1) + "/?token=qs3cret&model=big"
	m := mustRemote(t, "luma", raw, fastRetries())
	_, err := ScoreAll(m, prompts[:1], imgs[:1])
	if err == nil || gotUser != "alice:hunter2" || gotQuery != "qs3cret" {
		t.Fatalf("the server got user %q and token %q (err %v)", gotUser, gotQuery, err)
	}
	for _, s := range []string{err.Error(), m.URL()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "qs3cret") || strings.Contains(s, "alice") || !strings.Contains(s, "model=big") {
			t.Fatalf("credentials shown: %s", s)
		}
	}
	_, err = NewRemote("luma", RedactURL(raw), fastRetries())
	wantParts(t, err, "REDACTED", "give the URL with them again", "FLOWTUNE_REWARD_TOKEN")
	if _, err := ParseServerURL(RedactURL(raw)); err != nil {
		t.Fatalf("ParseServerURL refuses a redacted URL (stored configs must stay readable): %v", err)
	}

	// A bearer token: the server that wants one accepts the client that has it.
	tok := httptest.NewServer(NewHandler(rewardtest.Brightness{}, zerolog.Nop(), ServerOptions{Token: "t0k"}))
	defer tok.Close()
	_, err = NewRemote("luma", tok.URL, fastRetries())
	wantParts(t, err, "401", "no token was sent")
	o := fastRetries()
	o.Token = "wrong"
	_, err = NewRemote("luma", tok.URL, o)
	wantParts(t, err, "401", "is not the server's")
	o.Token = "t0k"
	if _, err := ScoreAll(mustRemote(t, "luma", tok.URL, o), prompts[:2], imgs[:2]); err != nil {
		t.Fatal(err)
	}
}
