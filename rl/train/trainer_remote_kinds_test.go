package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/flowtune/flowtune/rl/reward/rewardtest"
	"image"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/rl/reward"
)

// refusing is a reward that fails on every image, as a compose server does on sign prompts.
type refusing struct{}

func (refusing) Name() string { return "brightness" }

func (refusing) Score(string, image.Image) (float64, error) {
	return 0, errors.New("this reward cannot score sign prompts")
}

// A server that rejects the run's requests (422) stops the run with a checkpoint, and the
// message says that resuming as it is fails the same way, instead of "start the server again".
func TestRemoteRewardRejectionSaysResumingFailsTheSame(t *testing.T) {
	cfg := tinyConfig("ram")
	srv := newRewardServer(t, refusing{})
	cfg.Reward = "brightness@" + srv.URL
	dir := t.TempDir()
	_, err := newRemoteTrainer(t, cfg, dir).Run(context.Background())
	if !errors.Is(err, ErrReward) || !errors.Is(err, reward.ErrRejected) || errors.Is(err, reward.ErrServerDown) {
		t.Fatalf("got %v, want ErrReward of kind ErrRejected", err)
	}
	wantErr(t, err, "422 Unprocessable Entity", "cannot score sign prompts", "the checkpoint at step 0 was saved",
		"resuming as it is fails the same way", "the task's prompts and the server's reward", "-resume "+dir)
	if strings.Contains(err.Error(), "start the server again") {
		t.Fatalf("a rejection is told to restart the server: %v", err)
	}
	if srv.computes.Load() != 1 {
		t.Fatalf("a 422 was retried: %d requests", srv.computes.Load())
	}
}

// huge is an in-process reward that scores 1e308, finite but beyond any usable range.
type huge struct{}

func (huge) Name() string                               { return "brightness" }
func (huge) Score(string, image.Image) (float64, error) { return 1e308, nil }

// Rewards of ±1e308 (over HTTP or in process) are a reward failure like a server that is down:
// a checkpoint and a way to resume, not a crash in JSON encoding with the progress lost.
func TestHugeRewardsAreARewardFailure(t *testing.T) {
	cfg := tinyConfig("ram")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet {
			fmt.Fprint(w, `{"status": "ok"}`)
			return
		}
		var in struct {
			Image []json.RawMessage `json:"image"`
		}
		json.NewDecoder(req.Body).Decode(&in)
		vals := make([]string, len(in.Image))
		for i := range vals {
			vals[i] = "1e308"
		}
		fmt.Fprintf(w, `{"rewards": [%s]}`, strings.Join(vals, ", "))
	}))
	defer srv.Close()
	cfg.Reward = "brightness@" + srv.URL
	dir := t.TempDir()
	_, err := newRemoteTrainer(t, cfg, dir).Run(context.Background())
	if !errors.Is(err, ErrReward) || !errors.Is(err, reward.ErrBadAnswer) {
		t.Fatalf("got %v, want ErrReward of kind ErrBadAnswer", err)
	}
	wantErr(t, err, "reward 0 is 1e308, beyond ±1e+12", "fix the server", "-resume "+dir)
	if _, serr := os.Stat(filepath.Join(dir, CheckpointFile)); serr != nil {
		t.Fatalf("no checkpoint after a reward failure: %v", serr)
	}

	cfg = tinyConfig("ram")
	dir = t.TempDir()
	tr := newTinyTrainer(t, cfg, dir)
	tr.ExtraRewards = map[string]reward.Reward{"brightness": huge{}}
	_, err = tr.Run(context.Background())
	if !errors.Is(err, ErrReward) {
		t.Fatalf("in-process 1e308: got %v, want ErrReward", err)
	}
	wantErr(t, err, "reward brightness", "scores 1e+308, not a finite number within ±1e+12", "fix the reward", "-resume "+dir)
}

// Credentials in a reward URL reach the server but are stored and shown redacted: not in
// config.yaml, the checkpoint, the adapters or the log. The bearer token comes from
// $FLOWTUNE_REWARD_TOKEN and is stored nowhere. Resuming from the redacted config says how to
// give the credentials again; given again, the run resumes.
func TestRewardCredentialsAreNotStored(t *testing.T) {
	const user, pass, qtok, btok = "alice", "hunter2", "qs3cret", "b3arer"
	t.Setenv(reward.TokenEnv, btok)
	h := reward.NewHandler(rewardtest.Brightness{}, zerolog.Nop(), reward.ServerOptions{Token: btok})
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		seen = append(seen, req.Header.Get("Authorization")+" "+req.URL.Query().Get("token"))
		mu.Unlock()
		h.ServeHTTP(w, req) // checks the bearer token
	}))
	defer srv.Close()
	cfg := tinyConfig("ram")
	cfg.Steps = 2
	cfg.Reward = "brightness@" + strings.Replace(srv.URL, "http://", "http://"+user+":"+pass+"@", 1) + "/?token=" + qtok + "&model=m=0.5"
	dir := t.TempDir()
	var log bytes.Buffer
	tr := newRemoteTrainer(t, cfg, dir)
	tr.Log = zerolog.New(&log)
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// (The bearer token takes the place of the URL's user:password, which Go sends as basic
	// authentication when there is no token.)
	if len(seen) == 0 || seen[0] != "Bearer "+btok+" "+qtok {
		t.Fatalf("the server saw %q", seen)
	}
	files := map[string][]byte{"log": log.Bytes()}
	for _, f := range []string{ConfigFile, CheckpointFile, AdaptersFile, SummaryFile} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = data
	}
	for name, data := range files {
		for _, secret := range []string{user, pass, qtok, btok} {
			if bytes.Contains(data, []byte(secret)) {
				t.Fatalf("%s holds %q", name, secret)
			}
		}
	}
	if !bytes.Contains(files[ConfigFile], []byte("REDACTED@127.0.0.1")) || !bytes.Contains(files[ConfigFile], []byte("token=REDACTED&model=m=0.5")) {
		t.Fatalf("config.yaml does not keep the redacted spec with its weight:\n%s", files[ConfigFile])
	}

	stored, err := ResolveConfig(filepath.Join(dir, ConfigFile), map[string]string{"steps": "3"})
	if err != nil {
		t.Fatalf("the stored config does not read back: %v", err)
	}
	again := newRemoteTrainer(t, stored, dir)
	again.Resume = true
	_, err = again.Run(context.Background())
	wantErr(t, err, "REDACTED", "give the URL with them again", reward.TokenEnv)
	stored.Reward = cfg.Reward
	again = newRemoteTrainer(t, stored, dir)
	again.Resume = true
	if _, err := again.Run(context.Background()); err != nil {
		t.Fatalf("resuming with the credentials given again: %v", err)
	}
}
