package train

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLockHelperProcess is not a test: run as a child by TestRunDirectoryLockAcrossProcesses,
// it takes the lock of $FLOWTUNE_LOCK_DIR, says so on stdout and waits to be killed.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv("FLOWTUNE_LOCK_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	if _, err := lockDir(dir); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	select {}
}

// A second process cannot take a run directory that a live process holds, and the message names
// the holder's PID; once the holder is killed (SIGKILL: no cleanup), its lock is stale and taken.
func TestRunDirectoryLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), "FLOWTUNE_LOCK_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper: %q", line)
	}

	_, err = lockDir(dir)
	pid := strconv.Itoa(cmd.Process.Pid)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "process "+pid) {
		t.Fatalf("locking a directory held by process %s: %v", pid, err)
	}

	cmd.Process.Kill()
	cmd.Wait()
	l, err := lockDir(dir)
	if err != nil {
		t.Fatalf("the lock of a killed process was not taken over: %v", err)
	}
	defer l.unlock()
	b, _ := os.ReadFile(filepath.Join(dir, LockFile))
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file holds %q, want this process's PID %d", b, os.Getpid())
	}
}

// A run refuses a directory that another run holds, before writing anything into it; a lock file
// left by a dead process does not stop it, and the lock is released when the run ends.
func TestRunRefusesLockedDirectory(t *testing.T) {
	cfg := tinyConfig("ram")
	cfg.Steps, cfg.EvalEvery = 1, 0
	dir := t.TempDir()
	held, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newTinyTrainer(t, cfg, dir).Run(context.Background())
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("run in a locked directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); !os.IsNotExist(err) {
		t.Fatalf("the refused run wrote %s", ConfigFile)
	}
	held.unlock()

	// A stale lock file (its process gone) and a temporary file of a killed save.
	os.WriteFile(filepath.Join(dir, LockFile), []byte("999999999\n"), 0o644)
	stale := filepath.Join(dir, "."+CheckpointFile+".tmp-123")
	os.WriteFile(stale, []byte("partial"), 0o644)
	if _, err := newTinyTrainer(t, cfg, dir).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatal("the stale temporary file of a killed save was not removed")
	}
	l, err := lockDir(dir)
	if err != nil {
		t.Fatalf("the finished run did not release its lock: %v", err)
	}
	l.unlock()
}
