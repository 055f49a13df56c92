package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/rl/reward"
	"github.com/flowtune/flowtune/rl/reward/rewardtest"
)

// Modes of rewardServer.
const (
	serveAll   = iota
	failAll    // every /compute answers 503
	failLarger // requests of more than failOver images answer 503
)

// rewardServer serves a reward over loopback HTTP with reward.Handler and can be told to fail.
type rewardServer struct {
	*httptest.Server
	mode     atomic.Int32
	failOver int
	computes atomic.Int64 // POST /compute requests seen
}

func newRewardServer(t *testing.T, r reward.Reward) *rewardServer {
	s := &rewardServer{}
	h := reward.Handler(r, zerolog.Nop())
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost {
			s.computes.Add(1)
			body, _ := io.ReadAll(req.Body)
			var in struct {
				Image []json.RawMessage `json:"image"`
			}
			json.Unmarshal(body, &in)
			if m := s.mode.Load(); m == failAll || m == failLarger && len(in.Image) > s.failOver {
				http.Error(w, `{"error": "reward model unavailable"}`, http.StatusServiceUnavailable)
				return
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(s.Close)
	return s
}

// newRemoteTrainer is newTinyTrainer without the in-process brightness reward (so only the
// server can score) and with quick retries.
func newRemoteTrainer(t *testing.T, cfg Config, dir string) *Trainer {
	tr := newTinyTrainer(t, cfg, dir)
	tr.ExtraRewards = nil
	tr.remoteOptions = reward.RemoteOptions{Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
	return tr
}

// The tiny run scored by a brightness server over HTTP learns like the in-process run; in fact
// it is the same run, record for record, since PNG and JSON carry images and scores exactly.
func TestRemoteRewardTrainsLikeInProcess(t *testing.T) {
	cfg := tinyConfig("ram")
	cfg.Steps, cfg.Group, cfg.LR, cfg.EvalEvery = 8, 8, 2e-2, 4
	local := t.TempDir()
	if _, err := newTinyTrainer(t, cfg, local).Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	srv := newRewardServer(t, rewardtest.Brightness{})
	cfg.Reward = "brightness@" + srv.URL
	remote := t.TempDir()
	s, err := newRemoteTrainer(t, cfg, remote).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := s.Rewards["brightness"]
	t.Logf("brightness over HTTP %.4f → %.4f (paired stderr %.4f)", r.BaseEval, r.FinalEval, r.DeltaStderr)
	if !(r.Delta > 0.05) || !(r.Delta > 5*r.DeltaStderr) {
		t.Fatalf("held-out brightness %.4f → %.4f: change %.4f is not clearly beyond the noise (paired stderr %.4f)",
			r.BaseEval, r.FinalEval, r.Delta, r.DeltaStderr)
	}
	// One request per rollout group and one per evaluation (steps 0, 4 and 8).
	if got, want := srv.computes.Load(), int64(cfg.Steps*cfg.Prompts+3); got != want {
		t.Fatalf("server saw %d /compute requests, want %d", got, want)
	}
	want, got := readMetricLines(t, local), readMetricLines(t, remote)
	if len(got) != len(want) {
		t.Fatalf("remote run has %d records, in-process %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d differs:\nin-process %s\nremote     %s", i, want[i], got[i])
		}
	}
}

// A reward server that goes down mid-run stops the run with ErrReward and a checkpoint; once the
// server is back, resuming finishes with exactly the uninterrupted run's records and weights.
// Down during a training step, the checkpoint is the state before that step (its rollouts are
// drawn again); down during an evaluation, it is the state after the step, and the resumed run
// evaluates first.
func TestRemoteRewardFailureCheckpointsAndResumes(t *testing.T) {
	cfg := tinyConfig("ram")
	cfg.CheckpointEvery = 0 // only the failure and the end save
	srv := newRewardServer(t, rewardtest.Brightness{})
	srv.failOver = cfg.Group // rollout requests carry one group; evaluations more
	cfg.Reward = "brightness@" + srv.URL

	straight := t.TempDir()
	if _, err := newRemoteTrainer(t, cfg, straight).Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name      string
		breakStep int   // the server fails from the end of this step on
		mode      int32 // how
		want      []string
		records   string // kinds and steps in metrics.jsonl at the failure
	}{
		{"train step", 2, failAll, []string{"step 3: reward brightness@" + srv.URL + ": POST /compute: 503 Service Unavailable after 3 attempts",
			"reward model unavailable", "the checkpoint at step 2 was saved", "start the server again"}, "eval:0 train:1 train:2 eval:2"},
		{"evaluation", 1, failLarger, []string{"evaluation at step 2: reward brightness@" + srv.URL + ": POST /compute: 503",
			"the checkpoint at step 2 was saved", "start the server again"}, "eval:0 train:1 train:2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv.mode.Store(serveAll)
			dir := t.TempDir()
			first := newRemoteTrainer(t, cfg, dir)
			first.afterStep = func(step int) {
				if step == c.breakStep {
					srv.mode.Store(c.mode)
				}
			}
			_, err := first.Run(context.Background())
			if !errors.Is(err, ErrReward) {
				t.Fatalf("run against a failing server returned %v, want ErrReward", err)
			}
			var re *reward.RemoteError
			if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || re.Attempts != cfg.RewardRetries {
				t.Fatalf("error %v does not carry the server's 503 after %d attempts", err, cfg.RewardRetries)
			}
			t.Logf("stopped with: %v", err)
			wantErr(t, err, append(c.want, "-resume "+dir)...)
			if st := readState(t, dir); st.Step != 2 {
				t.Fatalf("checkpoint holds step %d, want 2", st.Step)
			}
			var kinds []string
			for _, r := range readMetrics(t, dir) {
				kinds = append(kinds, r["kind"].(string)+":"+jsonNum(r["step"]))
			}
			if got := strings.Join(kinds, " "); got != c.records {
				t.Fatalf("records at the failure: %s, want %s", got, c.records)
			}

			srv.mode.Store(serveAll)
			second := newRemoteTrainer(t, cfg, dir)
			second.Resume = true
			if _, err := second.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			want, got := readMetricLines(t, straight), readMetricLines(t, dir)
			if len(got) != len(want) {
				t.Fatalf("resumed run has %d records, uninterrupted %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("record %d differs:\nstraight %s\nresumed  %s", i, want[i], got[i])
				}
			}
			a, b := readTensors(t, filepath.Join(straight, AdaptersFile)), readTensors(t, filepath.Join(dir, AdaptersFile))
			for name, ta := range a {
				tb := b[name]
				for i := range ta.Data {
					if math.Float32bits(ta.Data[i]) != math.Float32bits(tb.Data[i]) {
						t.Fatalf("%s[%d]: straight %v, resumed %v", name, i, ta.Data[i], tb.Data[i])
					}
				}
			}
		})
	}
}

// No server at the URL: the run does not start, and says how to start one.
func TestRemoteRewardServerMissing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := tinyConfig("ram")
	cfg.Reward = "compose@http://" + addr + "=1,brightness=0.5"
	_, err = newTinyTrainer(t, cfg, t.TempDir()).Run(context.Background())
	if !errors.Is(err, ErrReward) {
		t.Fatalf("got %v, want ErrReward", err)
	}
	wantErr(t, err, "reward compose@http://"+addr, "GET /health", "is the server running?",
		"go run ./cmd/rewardserver -reward compose -addr "+addr)
}
