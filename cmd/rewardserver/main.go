// Command rewardserver serves one of flowtune's built-in rewards over HTTP in Flow-Factory's
// remote-reward protocol, so that the images of a fine-tuning run can be scored in another
// process or on another machine (and any Flow-Factory client can use flowtune's rewards).
//
//	go run ./cmd/rewardserver -reward compose -addr 127.0.0.1:8700
//
// Point a fine-tuning run at it with a name@URL entry in the reward spec (the name is what the
// logs and metrics call it; a weight may follow the URL):
//
//	go run ./cmd/finetune -reward compose@http://127.0.0.1:8700
//	go run ./cmd/finetune -reward compose@http://127.0.0.1:8700=1,pref=0.5 -reward-timeout 30 -reward-retries 5
//
// The protocol:
//
//	GET  /health   200 {"status": "ok", "reward": "compose"}
//	POST /compute  {"prompt": ["...", ...], "image": ["<base64 PNG>", ...]}
//	               → 200 {"rewards": [0.75, ...]}, one per image in order,
//	               or 4xx {"error": "..."} naming what is wrong with the request
//
// Each request is logged with its number of images and its time. Ctrl-C (or SIGTERM) stops
// accepting connections and lets the requests in flight finish before exiting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/flowtune/flowtune/internal/cli"
	"github.com/flowtune/flowtune/internal/logx"
	"github.com/flowtune/flowtune/rl/reward"
)

// Exit statuses.
const (
	exitOK    = cli.ExitOK
	exitError = cli.ExitError
	exitUsage = cli.ExitUsage
)

// shutdownGrace is how long requests in flight may take to finish after Ctrl-C.
const shutdownGrace = 30 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills the process at once
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stderr, nil))
}

// run serves until ctx is done; ready, if not nil, gets the address once it listens.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) int {
	return runIO(ctx, args, os.Stdout, stderr, ready)
}

// runIO is run with the stream that -h prints the usage on.
func runIO(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(addr string)) int {
	fs := flag.NewFlagSet("rewardserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("reward", "compose", "reward to serve: "+strings.Join(reward.Names(), ", "))
	addr := fs.String("addr", "127.0.0.1:8700", "address to listen on (host:port; port 0 picks a free one)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: rewardserver [-reward NAME] [-addr HOST:PORT]\n\n"+
			"Serves a built-in reward over HTTP (GET /health, POST /compute); use it from finetune with\n"+
			"-reward NAME@http://HOST:PORT.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args, stdout); err != nil {
		return cli.Report(stderr, "rewardserver", err)
	}
	r, err := reward.ByName(*name)
	if err != nil {
		fmt.Fprintf(stderr, "rewardserver: %v\n", err)
		return exitUsage
	}
	log := logx.New(stderr)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "rewardserver: %v\n", err)
		return exitError
	}
	srv := &http.Server{Handler: reward.Handler(r, log), ReadHeaderTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	log.Info().Str("reward", r.Name()).Str("url", url).Str("use", "-reward "+r.Name()+"@"+url).Msg("serving")
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case err := <-served:
		log.Error().Err(err).Msg("server stopped")
		return exitError
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down: finishing the requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error().Err(err).Msg("shutdown")
		return exitError
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error().Err(err).Msg("server stopped")
		return exitError
	}
	log.Info().Msg("stopped")
	return exitOK
}
