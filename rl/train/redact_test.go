package train

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestRedactSecrets(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"compose@http://alice:s3cret@127.0.0.1:8700=0.5", "compose@http://alice:xxxxx@127.0.0.1:8700=0.5"},
		{"a@https://h:1/x?token=abc&n=2,b@http://h?API_KEY=k1#f", "a@https://h:1/x?token=xxxxx&n=2,b@http://h?API_KEY=xxxxx#f"},
		{"pref=0.5,compose@http://127.0.0.1:8700", "pref=0.5,compose@http://127.0.0.1:8700"},
		{"reward c@http://u:p@h: POST /compute", "reward c@http://u:xxxxx@h: POST /compute"},
		{"http://user@host/", "http://user@host/"},
	} {
		if got := redactSecrets(c.in); got != c.want {
			t.Errorf("redactSecrets(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// Credentials in a reward URL appear in none of the run's files, nor in its log or its errors;
// resuming from the redacted config.yaml asks for them, and given again they resume the run.
func TestRewardCredentialsAreRedacted(t *testing.T) {
	cfg := tinyConfig("ram")
	cfg.Steps, cfg.EvalEvery, cfg.CheckpointEvery = 2, 0, 1
	srv := newRewardServer(t, brightness{})
	host := strings.TrimPrefix(srv.URL, "http://")
	const password, token = "pa55word", "t0ken"
	cfg.Reward = "brightness@http://user:" + password + "@" + host + "/?token=" + token

	dir := t.TempDir()
	var log bytes.Buffer
	tr := newRemoteTrainer(t, cfg, dir)
	tr.Log = zerolog.New(&log)
	tr.afterStep = func(step int) {
		if step == 1 {
			srv.mode.Store(failAll)
		}
	}
	_, err := tr.Run(context.Background())
	if !errors.Is(err, ErrReward) {
		t.Fatalf("run against a failing server: %v", err)
	}
	leaks := func(what, text string) {
		t.Helper()
		if strings.Contains(text, password) || strings.Contains(text, token) {
			t.Fatalf("%s shows the credentials:\n%s", what, text)
		}
	}
	leaks("the error", err.Error())
	// The reward client's own retry lines show the URL without its password; a token in the
	// query is its business (rl/reward), so only the password is checked there.
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, "retrying") {
			if strings.Contains(line, password) {
				t.Fatalf("the reward client's log shows the password:\n%s", line)
			}
			continue
		}
		leaks("the log", line)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		leaks(e.Name(), string(b))
	}
	y, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if !strings.Contains(string(y), "user:xxxxx@") || !strings.Contains(string(y), "token=xxxxx") {
		t.Fatalf("config.yaml does not show where the credentials were:\n%s", y)
	}

	srv.mode.Store(serveAll)
	fromFile, err := ResolveConfig(filepath.Join(dir, ConfigFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	again := newRemoteTrainer(t, fromFile, dir)
	again.Resume = true
	_, err = again.Run(context.Background())
	wantErr(t, err, "credentials", "-reward brightness@")

	withFlag, err := ResolveConfig(filepath.Join(dir, ConfigFile), map[string]string{"reward": cfg.Reward})
	if err != nil {
		t.Fatal(err)
	}
	again = newRemoteTrainer(t, withFlag, dir)
	again.Resume = true
	if _, err := again.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
