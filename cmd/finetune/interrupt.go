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

// interruptContext is cancelled by the first SIGINT or SIGTERM, which it announces on w; after
// that the signals are the default again, so a second Ctrl-C ends the process at once.
func interruptContext(w io.Writer) context.Context {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
		fmt.Fprintln(w, interruptMessage)
	}()
	return ctx
}
