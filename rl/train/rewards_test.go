package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/rl/reward"
)

func TestRedactSpec(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "",
		"compose=1,pref=0.5":  "compose=1,pref=0.5",
		"a@http://h:1=2,pref": "a@http://h:1=2,pref",
		"a@http://u:p@h:1/?key=k&m=1=0.5, pref=1": "a@http://REDACTED@h:1/?key=REDACTED&m=1=0.5, pref=1",
		"a@http://h:1/?token=7":                   "a@http://h:1/?token=7", // the weight is 7: the URL has no token
		"a@ftp://u:p@h":                           "a@ftp://REDACTED@h",
	} {
		if got := RedactSpec(in); got != want {
			t.Errorf("RedactSpec(%q) = %q, want %q", in, got, want)
		}
	}
	rw := RewardWeight{Name: "a", Weight: 0.5, URL: "https://u:p@h/?api_key=k"}
	if got := rw.String(); got != "a@https://REDACTED@h/?api_key=REDACTED=0.5" {
		t.Fatalf("String() = %q", got)
	}
	// A bad entry's message does not show its credentials either.
	c := DefaultConfig("")
	c.Reward = "@http://u:secret@h:1"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("bad entry: %v", err)
	}
}

// The token is read from reward_token_file, else $FLOWTUNE_REWARD_TOKEN, and only when a reward
// is remote; a bad file is a config error naming the key.
func TestRemoteToken(t *testing.T) {
	t.Setenv(reward.TokenEnv, "from-env")
	c := DefaultConfig("")
	local := []RewardWeight{{Name: "pref", Weight: 1}}
	remote := []RewardWeight{{Name: "a", Weight: 1, URL: "http://h:1"}}
	if tok, err := c.remoteToken(local); tok != "" || err != nil {
		t.Fatalf("local rewards: %q %v", tok, err)
	}
	if tok, err := c.remoteToken(remote); tok != "from-env" || err != nil {
		t.Fatalf("env: %q %v", tok, err)
	}
	c.RewardTokenFile = filepath.Join(t.TempDir(), "tok")
	if _, err := c.remoteToken(remote); err == nil || !strings.Contains(err.Error(), "reward_token_file") {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(c.RewardTokenFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := c.remoteToken(remote); tok != "from-file" || err != nil {
		t.Fatalf("file: %q %v", tok, err)
	}
}
