package logx

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair and returns the terminal side (and the controller, which
// must stay open while the terminal is written to).
func openPTY(t *testing.T) (term, ctl *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(ctl.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	term, err = os.OpenFile("/dev/pts/"+itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pts: %v", err)
	}
	t.Cleanup(func() { term.Close(); ctl.Close() })
	return term, ctl
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// On a terminal the log is coloured, unless NO_COLOR is set to anything non-empty.
func TestColourOnATerminalUnlessNoColor(t *testing.T) {
	term, ctl := openPTY(t)
	t.Setenv("NO_COLOR", "")
	if !Colour(term) {
		t.Fatal("a terminal should get colour when NO_COLOR is empty")
	}
	read := func() string {
		buf := make([]byte, 4096)
		n, _ := ctl.Read(buf)
		return string(buf[:n])
	}
	log := New(term)
	log.Info().Msg("coloured")
	if got := read(); !strings.Contains(got, "\x1b[") {
		t.Fatalf("terminal log %q has no colour", got)
	}
	t.Setenv("NO_COLOR", "1")
	if Colour(term) {
		t.Fatal("NO_COLOR=1 should switch colour off on a terminal")
	}
	log = New(term)
	log.Info().Msg("plain")
	if got := read(); strings.Contains(got, "\x1b[") || !strings.Contains(got, "plain") {
		t.Fatalf("terminal log with NO_COLOR %q", got)
	}
}
