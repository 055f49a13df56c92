package train

// One process per run directory: a run takes an exclusive lock on a file in its directory for as
// long as it writes there, so that a second finetune with the same -out (or -resume) is refused
// instead of mixing its config with the first one's checkpoint. The lock is an flock(2) on
// LockFile, which the kernel releases when the process ends however it ends, so the lock of a
// killed run is stale by construction and the next run simply takes it. The file holds the PID
// of its holder, for the message.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFile is the run directory's lock; it holds the PID of the process using the directory.
const LockFile = ".lock"

// ErrLocked is returned (wrapped) when another live process holds a directory's lock.
var ErrLocked = errors.New("in use by another process")

// dirLock is a held lock on a directory.
type dirLock struct{ f *os.File }

// lockDir takes the exclusive lock of dir (which must exist) and writes this process's PID into
// it. A lock held by a live process is an error naming its PID; one left by a process that has
// ended is taken over.
func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("run directory %s: lock: %w", dir, err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("run directory %s: lock %s: %w", dir, path, err)
	}
	if !held {
		pid := "another process"
		if b, err := os.ReadFile(path); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
				pid = fmt.Sprintf("process %d", n)
			}
		}
		f.Close()
		return nil, fmt.Errorf("run directory %s is %w: %s is writing there (lock file %s); wait for it to finish, stop it, or choose another directory",
			dir, ErrLocked, pid, path)
	}
	// The PID is written in place (not by rename): the lock belongs to this open file.
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f}, nil
}

// unlock releases the lock. The file stays (removing it would race with a process that has
// just opened it); the next holder overwrites the PID.
func (l *dirLock) unlock() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Truncate(0)
	unlockFile(l.f)
	l.f.Close()
	l.f = nil
}
