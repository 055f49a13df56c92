package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowtune/flowtune/rl/reward"
)

// start runs the server with args until the test ends and returns its address and log.
func start(t *testing.T, args ...string) (string, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuffer
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &out, func(a string) { addrc <- a }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("server did not shut down")
		}
	})
	select {
	case a := <-addrc:
		return a, &out
	case code := <-done:
		t.Fatalf("server exited with %d: %s", code, out.String())
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	return "", nil
}

// closedWithin reports whether the server closes c within d (reading gets EOF or a reset).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// Connections that send their header or body slowly, or sit idle after a request, are closed
// after the timeouts, and while 60 of them are open /health answers at once.
func TestSlowAndIdleConnectionsAreCut(t *testing.T) {
	defer func(old struct{ header, read, write, idle time.Duration }) { timeouts = old }(timeouts)
	timeouts.header, timeouts.read, timeouts.write, timeouts.idle = 500*time.Millisecond, time.Second, time.Second, 500*time.Millisecond
	addr, _ := start(t, "-reward", "jpeg", "-addr", "127.0.0.1:0")

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 60 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		switch i % 3 {
		case 0: // a header that never ends
			fmt.Fprintf(c, "POST /compute HTTP/1.1\r\nHost: x\r\n")
		case 1: // a body that never ends
			fmt.Fprintf(c, "POST /compute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"prompt\": [")
		case 2: // a finished request, then an idle keep-alive connection
			fmt.Fprintf(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatalf("/health with 60 slow connections open: %v", err)
	}
	resp.Body.Close()
	for i, c := range conns {
		if !closedWithin(c, 10*time.Second) {
			t.Fatalf("connection %d (kind %d) is still open 10 s after timeouts of about 1 s", i, i%3)
		}
	}
}

// Beyond loopback the server warns, saying how to restrict it; on loopback it does not.
func TestWarnsBeyondLoopback(t *testing.T) {
	t.Setenv(reward.TokenEnv, "")
	_, out := start(t, "-reward", "jpeg", "-addr", "127.0.0.1:0")
	if strings.Contains(out.String(), "beyond loopback") {
		t.Fatalf("warned on loopback:\n%s", out)
	}
	_, out = start(t, "-reward", "jpeg", "-addr", ":0")
	if log := out.String(); !strings.Contains(log, "beyond loopback without a token") || !strings.Contains(log, "-token-file") {
		t.Fatalf("-addr :0 does not warn:\n%s", log)
	}
}

// A token from -token-file or the environment is required of every request; the client sends
// the one it is given.
func TestTokenFileAndEnv(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(reward.TokenEnv, "from-env")
	for _, c := range []struct {
		args  []string
		token string
	}{{[]string{"-token-file", file}, "from-file"}, {nil, "from-env"}} {
		addr, out := start(t, append([]string{"-reward", "jpeg", "-addr", "127.0.0.1:0"}, c.args...)...)
		if !strings.Contains(out.String(), "token=") {
			t.Fatalf("the log does not say a token is required:\n%s", out)
		}
		if strings.Contains(out.String(), c.token) {
			t.Fatalf("the log shows the token:\n%s", out)
		}
		if _, err := reward.NewRemote("jpeg", "http://"+addr, reward.RemoteOptions{Token: "wrong"}); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("a wrong token: %v", err)
		}
		if _, err := reward.NewRemote("jpeg", "http://"+addr, reward.RemoteOptions{Token: c.token}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(file, []byte("  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	if code := run(context.Background(), []string{"-token-file", file}, &out, nil); code != exitUsage || !strings.Contains(out.String(), "is empty") {
		t.Fatalf("empty token file: exit %d, %s", code, out.String())
	}
}
