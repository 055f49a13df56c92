// Command rewardserver serves one of flowtune's built-in rewards over HTTP in Flow-Factory's
// remote-reward protocol, so that the images of a fine-tuning run can be scored in another
// process or on another machine (and any Flow-Factory client can use flowtune's rewards).
//
//	go build -o bin/rewardserver ./cmd/rewardserver
//	bin/rewardserver -reward compose -addr 127.0.0.1:8700
//
// (Build it and run the binary when it goes into the background: `go run … &` puts go run's
// PID in $!, and killing that leaves the server itself running.) Point a fine-tuning run at it
// with a name@URL entry in the reward spec (the name is what the logs and metrics call it; a
// weight may follow the URL):
//
//	go run ./cmd/finetune -task compose -reward compose@http://127.0.0.1:8700
//	go run ./cmd/finetune -task compose -reward compose@http://127.0.0.1:8700=1,pref=0.5 -reward-timeout 30 -reward-retries 5
//
// The protocol:
//
//	GET  /health   200 {"status": "ok", "reward": "compose"}
//	POST /compute  {"prompt": ["...", ...], "image": ["<base64 PNG>", ...]}
//	               → 200 {"rewards": [0.75, ...]}, one per image in order,
//	               or 4xx {"error": "..."} naming what is wrong with the request
//
// Only Content-Type application/json is read. What a request may cost is bounded (its body,
// each image's declared size, its decoded pixels, the requests scored at once: -h lists the
// limits), and slow or idle connections are closed after a timeout. With -token-file (or
// $FLOWTUNE_REWARD_TOKEN) every request needs Authorization: Bearer <token>, which finetune
// sends from the same variable or its reward_token_file. A listening address beyond loopback
// is warned about.
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

// Connection timeouts: a client that sends its header, or (before a /compute request has its
// slot) its body, slower than these, or keeps an idle connection open longer, is cut off, so that
// slow or forgotten connections cannot pile up. /compute extends the deadlines once a request
// has its slot (reward.ServerOptions' BodyTimeout and ScoreTimeout). Tests shorten them.
var timeouts = struct{ header, read, write, idle time.Duration }{
	header: 10 * time.Second, read: 30 * time.Second, write: 30 * time.Second, idle: 30 * time.Second,
}

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
	addr := fs.String("addr", "127.0.0.1:8700", "address to listen on (host:port; port 0 picks a free one); beyond loopback, anyone who reaches the port can use it")
	tokenFile := fs.String("token-file", "", "file holding a bearer token that every request must send (default: $"+reward.TokenEnv+" if set, else no token)")
	var o reward.ServerOptions
	fs.IntVar(&o.MaxInFlight, "max-inflight", reward.DefaultMaxInFlight, "requests read, decoded and scored at once; more wait, then get 503")
	maxBody := fs.Int("max-body-mib", reward.DefaultMaxBodyBytes>>20, "largest request body, in MiB")
	maxDecoded := fs.Int("max-decoded-mib", reward.DefaultMaxDecodedBytes>>20, "largest decoded size of one request's images, in MiB")
	fs.Int64Var(&o.MaxImagePixels, "max-image-pixels", reward.DefaultMaxImagePixels, "largest image (width × height, as its PNG header declares it)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: rewardserver [-reward NAME] [-addr HOST:PORT] [-token-file FILE] [limits]\n\n"+
			"Serves a built-in reward over HTTP (GET /health, POST /compute); use it from finetune with\n"+
			"-reward NAME@http://HOST:PORT.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args, stdout); err != nil {
		return cli.Report(stderr, "rewardserver", err)
	}
	for _, l := range []struct {
		flag   string
		v, max int64
	}{{"-max-inflight", int64(o.MaxInFlight), 1 << 10}, {"-max-body-mib", int64(*maxBody), 1 << 20},
		{"-max-decoded-mib", int64(*maxDecoded), 1 << 20}, {"-max-image-pixels", o.MaxImagePixels, 1 << 40}} {
		if l.v < 1 || l.v > l.max {
			fmt.Fprintf(stderr, "rewardserver: %s must be between 1 and %d (got %d)\n", l.flag, l.max, l.v)
			return exitUsage
		}
	}
	o.MaxBodyBytes, o.MaxDecodedBytes = int64(*maxBody)<<20, int64(*maxDecoded)<<20
	r, err := reward.ByName(*name)
	if err != nil {
		fmt.Fprintf(stderr, "rewardserver: %v\n", err)
		return exitUsage
	}
	token, tokenFrom, err := reward.ReadToken(*tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "rewardserver: %v\n", err)
		return exitUsage
	}
	o.Token, o.BodyTimeout = token, timeouts.read
	log := logx.New(stderr)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "rewardserver: %v\n", err)
		return exitError
	}
	srv := &http.Server{Handler: reward.NewHandler(r, log, o), ReadHeaderTimeout: timeouts.header,
		ReadTimeout: timeouts.read, WriteTimeout: timeouts.write, IdleTimeout: timeouts.idle}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	if tcp := ln.Addr().(*net.TCPAddr); tcp.IP.IsUnspecified() {
		// every interface: name the machine, which the "[::]" of the address does not
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "127.0.0.1"
		}
		url = "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port))
	}
	ev := log.Info().Str("reward", r.Name()).Str("url", url).Str("use", "-reward "+r.Name()+"@"+url)
	if token != "" {
		ev = ev.Str("token", "required (from "+tokenFrom+")")
	}
	ev.Msg("serving")
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		w := log.Warn().Str("addr", ln.Addr().String())
		if token == "" {
			w.Msg("listening beyond loopback without a token: anyone who reaches this port can use the server; " +
				"listen on 127.0.0.1, or require a token with -token-file or $" + reward.TokenEnv)
		} else {
			w.Msg("listening beyond loopback: requests travel unencrypted, token included; use a trusted network or a TLS proxy")
		}
	}
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
