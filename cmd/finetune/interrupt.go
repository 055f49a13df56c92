package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// interruptMessage is printed the moment the first Ctrl-C (or SIGTERM) arrives: the run only
// stops after its current step, which can take a while, and silence invites the second Ctrl-C
// that kills it without a checkpoint.
const interruptMessage = "finetune: stopping after this step (a checkpoint will be saved); Ctrl-C again to abort"

// interruptContext is cancelled by the first SIGINT or SIGTERM, which it announces on w; a
// second one ends the process at once (status 128 + the signal's number). The exit is explicit
// rather than a return to the default handlers: a process started with SIGINT ignored (a
// background job of a script) would otherwise ignore the second Ctrl-C too.
func interruptContext(w io.Writer) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	c := make(chan os.Signal, 2)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-c
		cancel()
		fmt.Fprintln(w, interruptMessage)
		s := <-c
		code := 130
		if n, ok := s.(syscall.Signal); ok {
			code = 128 + int(n)
		}
		os.Exit(code)
	}()
	return ctx
}
