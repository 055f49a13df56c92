package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The first Ctrl-C is answered at once, not when the step ends.
func TestFirstInterruptIsAnnounced(t *testing.T) {
	var out syncBuffer
	ctx := interruptContext(&out)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGINT did not cancel the context")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Ctrl-C again to abort") {
		if time.Now().After(deadline) {
			t.Fatalf("nothing printed on the first Ctrl-C: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "stopping after this step") {
		t.Fatalf("message %q", out.String())
	}
}

// A second Ctrl-C ends the process at once with status 130, even in a process started with
// SIGINT ignored (as a script's background job is), where the default handler would ignore it.
func TestSecondInterruptExits(t *testing.T) {
	if os.Getenv("FINETUNE_INTERRUPT_CHILD") == "1" {
		ctx := interruptContext(os.Stdout)
		fmt.Println("ready")
		<-ctx.Done()
		time.Sleep(30 * time.Second)
		os.Exit(0)
	}
	cmd := exec.Command("sh", "-c", `trap "" INT; exec "$0" -test.run='^TestSecondInterruptExits$'`, os.Args[0])
	cmd.Env = append(os.Environ(), "FINETUNE_INTERRUPT_CHILD=1")
	var out syncBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor := func(s string) {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("child did not print %q: %q", s, out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("ready")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitFor("Ctrl-C again to abort")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Fatalf("after the second SIGINT the child ended with %v, want exit status 130", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second SIGINT did not end the child")
	}
}
