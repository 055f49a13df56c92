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

	"github.com/flowtune/flowtune/rl/reward/rewardtest"
)

// Credentials in a reward URL appear in none of the run's files, nor in its log or its errors;
// resuming from the redacted config.yaml asks for them, and given again they resume the run.
func TestRewardCredentialsAreRedacted(t *testing.T) {
	cfg := tinyConfig("ram")
	cfg.Steps, cfg.EvalEvery, cfg.CheckpointEvery = 2, 0, 1
	srv := newRewardServer(t, rewardtest.Brightness{})
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
	leaks("the log", log.String())
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		leaks(e.Name(), string(b))
	}
	y, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if !strings.Contains(string(y), "http://REDACTED@") || !strings.Contains(string(y), "token=REDACTED") {
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
	wantErr(t, err, "REDACTED", "give the URL with them again")

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
