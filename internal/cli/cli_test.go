package cli

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

func newFS() *flag.FlagSet {
	fs := flag.NewFlagSet("tool", flag.ContinueOnError)
	fs.Int("n", 1, "how many")
	fs.String("s", "", "a string")
	return fs
}

func TestHelpGoesToStdoutAndExitsZero(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		var out, errOut bytes.Buffer
		fs := newFS()
		fs.SetOutput(&errOut)
		err := Parse(fs, []string{arg}, &out)
		if !errors.Is(err, flag.ErrHelp) || ExitCode(err) != 0 {
			t.Fatalf("%s: error %v (exit %d), want flag.ErrHelp and exit 0", arg, err, ExitCode(err))
		}
		if !strings.Contains(out.String(), "how many") || errOut.Len() != 0 {
			t.Fatalf("%s: usage should go to stdout only; stdout %q, stderr %q", arg, out.String(), errOut.String())
		}
		var rep bytes.Buffer
		if code := Report(&rep, "tool", err); code != 0 || rep.Len() != 0 {
			t.Fatalf("%s: Report printed %q and returned %d, want nothing and 0", arg, rep.String(), code)
		}
	}
}

func TestBadCommandLinesAreUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-nope"}, "-nope"},
		{[]string{"-n", "many"}, `"many"`},
		{[]string{"-n", "2", "extra", "more"}, `unexpected arguments "extra" "more"`},
	} {
		var out bytes.Buffer
		fs := newFS()
		fs.SetOutput(&out)
		err := Parse(fs, tc.args, &out)
		if !errors.Is(err, ErrUsage) || ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%q: error %v (exit %d), want a usage error mentioning %s", tc.args, err, ExitCode(err), tc.want)
		}
		if out.Len() != 0 {
			t.Fatalf("%q: printed %q; the caller reports the error once", tc.args, out.String())
		}
		var rep bytes.Buffer
		if code := Report(&rep, "tool", err); code != 2 || !strings.HasPrefix(rep.String(), "tool: ") {
			t.Fatalf("%q: Report printed %q, returned %d", tc.args, rep.String(), code)
		}
	}
	if err := Parse(newFS(), []string{"-n", "3"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if ExitCode(errors.New("disk full")) != ExitError || ExitCode(Usagef("bad -n")) != ExitUsage {
		t.Fatal("ExitCode: other errors exit 1, Usagef errors 2")
	}
}
