// Package logx builds the human-readable loggers of the commands under cmd/: zerolog's console
// format with the time of day, in colour only when the stream is a terminal and the NO_COLOR
// environment variable (https://no-color.org) is unset or empty. Logs redirected to a file or a
// pipe therefore carry no ANSI escape codes.
package logx

import (
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// New returns a console logger writing to w with timestamps.
func New(w io.Writer) zerolog.Logger {
	cw := zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !Colour(w)}
	return zerolog.New(cw).With().Timestamp().Logger()
}

// Colour reports whether output to w should be coloured: w is a terminal and NO_COLOR is unset
// or empty.
func Colour(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
