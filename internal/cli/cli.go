// Package cli holds what every command under cmd/ does the same way with its command line:
// -h and -help print the usage on stdout and exit 0, a bad flag or a stray positional argument is
// a usage error (exit status 2) that names what was wrong, and any other failure exits 1.
package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit statuses shared by the commands.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// ErrUsage marks (errors.Is) a command line that cannot be run as written.
var ErrUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return ErrUsage }

// Usagef returns an error wrapping ErrUsage with the formatted message, for checks of flag
// values after Parse (the command's main then exits 2).
func Usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// Parse parses args into fs, which should use flag.ContinueOnError.
//
//   - -h or -help: fs's usage goes to stdout, and the result is flag.ErrHelp (ExitCode 0).
//   - A flag that is not defined or has a bad value: an error wrapping ErrUsage that carries
//     the flag package's message and points at -h; nothing is printed.
//   - Positional arguments, when fs takes none: an error wrapping ErrUsage naming them.
func Parse(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	var buf bytes.Buffer
	out := fs.Output()
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, werr := stdout.Write(buf.Bytes())
		if werr != nil {
			return werr
		}
		return flag.ErrHelp
	case err != nil:
		return Usagef("%v (run %s -h for the flags)", err, fs.Name())
	case fs.NArg() > 0:
		return Usagef("unexpected arguments %s: %s takes flags only (run %s -h)", quote(fs.Args()), fs.Name(), fs.Name())
	}
	return nil
}

// ExitCode maps a command's result to its exit status: nil and flag.ErrHelp are 0, usage
// errors 2, anything else 1.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, ErrUsage):
		return ExitUsage
	}
	return ExitError
}

// Report prints err, if it is worth a line, as "name: err" on w and returns the exit status.
func Report(w io.Writer, name string, err error) int {
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(w, "%s: %v\n", name, err)
	}
	return ExitCode(err)
}

func quote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, " ")
}
