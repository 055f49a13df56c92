package reward

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flowtune/flowtune/rl/reward/rewardtest"
)

// startPythonServer runs tools/reward_server.py (its example reward: the mean of the R, G and B
// values) on a free loopback port and returns its URL. It skips the test without python3.
func startPythonServer(t *testing.T, extra ...string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: the Python reward server is not tested")
	}
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "..", "tools", "reward_server.py")
	cmd := exec.Command(py, append([]string{script, "--port", "0", "--name", "brightness"}, extra...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", stderr.String())
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		_, url, ok := strings.Cut(strings.TrimSpace(s), " on ")
		if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
			t.Fatalf("server said %q (stderr %s)", s, stderr.String())
		}
		return url
	case <-time.After(20 * time.Second):
		t.Fatalf("the Python server did not start: %s", stderr.String())
	}
	return ""
}

func TestPythonRewardServer(t *testing.T) {
	url := startPythonServer(t)
	m := mustRemote(t, "brightness", url, fastRetries())
	prompts, imgs := scenes(t)
	prompts, imgs = prompts[:4], imgs[:4]
	want, _ := ScoreAll(rewardtest.Brightness{}, prompts, imgs)
	meta := []json.RawMessage{json.RawMessage(`{"tag":"counting"}`), nil, nil, nil}
	for _, md := range [][]json.RawMessage{nil, meta} {
		got, err := ScoreAllMetadata(m, prompts, md, imgs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-9 {
				t.Fatalf("image %d: Python server %v, Go %v", i, got[i], want[i])
			}
		}
	}
}

func TestPythonRewardServerRefuses(t *testing.T) {
	url := startPythonServer(t, "--max-side", "64", "--max-body-mb", "0.5")
	img := image.NewRGBA(image.Rect(0, 0, 100, 10))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	wide, _ := EncodePNG(img)
	tiny := image.NewRGBA(image.Rect(0, 0, 2, 2))
	var buf bytes.Buffer
	png.Encode(&buf, tiny)
	ok := base64.StdEncoding.EncodeToString(buf.Bytes())
	post := func(ctype, body string) (int, string) {
		resp, err := http.Post(url+"/compute", ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	for _, c := range []struct {
		ctype, body string
		status      int
		want        string
	}{
		{"text/plain", `{}`, 415, "send application/json"},
		{"application/json", `{"prompt": ["a"], "image": ["` + wide + `"]}`, 400, "image 0: PNG is 100x10"},
		{"application/json", `{"prompt": ["a"], "image": ["aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ="]}`, 400, "image 0: not a PNG"},
		{"application/json", `{"prompt": ["a", "b"], "image": ["` + ok + `"]}`, 400, "one string per image"},
		{"application/json", `{"prompt": ["a"], "image": ["` + ok + `"], "metadata": []}`, 400, "when present"},
		{"application/json", `{"prompt": ["a"], "image": ["` + ok + `"], "pad": "` + strings.Repeat("x", 600<<10) + `"}`, 413, "exceeds the limit"},
		{"application/json", `{"prompt": ["a"], "image": ["` + ok + `"], "metadata": [{"tag": "x"}]}`, 200, `"rewards": [0.0]`},
	} {
		status, body := post(c.ctype, c.body)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s %.60s…: %d %s, want %d with %q", c.ctype, c.body, status, body, c.status, c.want)
		}
	}
}
