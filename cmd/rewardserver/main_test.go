package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowtune/flowtune/rl/reward"
)

// lockedBuffer is a bytes.Buffer the server's goroutines may write concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestUnknownRewardListsTheValidOnes(t *testing.T) {
	var out lockedBuffer
	if code := run(context.Background(), []string{"-reward", "pickscore"}, &out, nil); code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{`"pickscore"`, "compose, compose_strict, ocr, jpeg, pref"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output %q does not mention %q", out.String(), want)
		}
	}
}

// The server scores like the reward in process, logs the request, and stops cleanly when the
// context ends (as on Ctrl-C).
func TestServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out lockedBuffer
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-reward", "jpeg", "-addr", "127.0.0.1:0"}, &out, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case code := <-done:
		t.Fatalf("server exited with %d: %s", code, out.String())
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}

	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
		if i%4 == 3 {
			img.Pix[i] = 255 // opaque, as generated images are (PNG carries those exactly)
		}
	}
	img.Set(3, 4, color.RGBA{255, 0, 0, 255})
	m, err := reward.NewRemote("jpeg", "http://"+addr, reward.RemoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := reward.ScoreAll(m, []string{"", ""}, []image.Image{img, img})
	if err != nil {
		t.Fatal(err)
	}
	jpeg, _ := reward.ByName("jpeg")
	want, _ := jpeg.Score("", img)
	if got[0] != want || got[1] != want {
		t.Fatalf("served scores %v, in process %v", got, want)
	}
	if log := out.String(); !strings.Contains(log, "compute") || !strings.Contains(log, "images=") || !strings.Contains(log, "seconds=") {
		t.Fatalf("the request was not logged:\n%s", log)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d after shutdown:\n%s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not shut down")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after shutdown", addr)
	}
}
