package reward

// What a failed exchange with a reward server says, and what kind of failure it is: the
// trainer resumes after a server that was down, but not after one that rejects its requests.

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The kinds of RemoteError, for errors.Is.
var (
	// ErrServerDown: no answer, a timeout, or a 5xx, 408 or 429 answer once the retries are
	// spent. The server is down, overloaded or failing; the same request may pass once it is
	// back, so a run can resume.
	ErrServerDown = errors.New("reward server down or overloaded")
	// ErrRejected: any other 4xx answer (400 malformed, 401/403 token, 413 too large, 422 the
	// reward fails on the images). The server refuses the request itself: sending it again, or
	// resuming, fails the same way until the request (the run's prompts, images, token) or the
	// server changes.
	ErrRejected = errors.New("reward server rejected the request")
	// ErrBadAnswer: a 200 answer that cannot be used (not the protocol's JSON, the wrong number
	// of rewards, non-finite or out-of-range ones). The server is broken, or speaks another
	// protocol.
	ErrBadAnswer = errors.New("reward server gave an unusable answer")
)

// RemoteError is a failed exchange with a reward server. Its message names the reward, the
// server (credentials redacted), the request, the last answer's status (or that none came), how
// many attempts were made, what went wrong (a trimmed snippet of the answer, the problem found
// in it, or the network error) and what that means. errors.Is tells its kind: ErrServerDown,
// ErrRejected or ErrBadAnswer.
type RemoteError struct {
	Reward   string
	URL      string // redacted (RedactURL)
	Op       string // "POST /compute" or "GET /health"
	Status   int    // HTTP status of the last answer; 0 when no answer came
	Attempts int
	Timeout  time.Duration // set when the last attempt ran out of time
	Problem  string        // what was wrong with an answer that came ("" for a plain error status)
	Body     string        // trimmed snippet of the last answer's body
	Err      error         // the network error when no answer came
	Hint     string        // what to do about it, if anything more useful than the kind can be said
}

// Kind is ErrServerDown, ErrRejected or ErrBadAnswer.
func (e *RemoteError) Kind() error {
	switch {
	case e.Status == http.StatusOK:
		return ErrBadAnswer
	case retryable(e.Status):
		return ErrServerDown
	}
	return ErrRejected
}

// retryable reports whether a request that got status (0: no answer) may pass if sent again.
func retryable(status int) bool {
	return status == 0 || status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}

// Is makes errors.Is(err, ErrServerDown) (and the others) true for a RemoteError of that kind.
func (e *RemoteError) Is(target error) bool { return target == e.Kind() }

func (e *RemoteError) Unwrap() error { return e.Err }

func (e *RemoteError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "reward %s@%s: %s: ", e.Reward, e.URL, e.Op)
	switch {
	case e.Timeout > 0:
		fmt.Fprintf(&b, "timeout (no complete answer within %v)", e.Timeout)
	case e.Status == 0:
		b.WriteString("no answer")
	default:
		fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Attempts == 1 {
		b.WriteString(" after 1 attempt")
	} else {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if e.Problem != "" {
		b.WriteString(": " + e.Problem)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Body != "" {
		b.WriteString(": " + e.Body)
	}
	switch e.Kind() {
	case ErrServerDown:
		b.WriteString("; the server is down, overloaded or failing: the same request should pass once it answers again")
	case ErrRejected:
		b.WriteString("; the server rejects the request itself (4xx): sending it again fails the same way until the request or the server changes")
	case ErrBadAnswer:
		b.WriteString("; the server's answer is unusable: it is broken or does not speak this protocol")
	}
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

// statusHint says what to do about a status that the kind alone does not explain.
func statusHint(status int, token bool) string {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		if !token {
			return "the server wants a token: set $" + TokenEnv + " or reward_token_file (no token was sent)"
		}
		return "the token sent (from $" + TokenEnv + " or reward_token_file) is not the server's"
	case http.StatusRequestEntityTooLarge:
		return "the request exceeds one of the server's limits (its message names it)"
	case http.StatusUnsupportedMediaType:
		return "the server wants another Content-Type than application/json: it is not a flowtune or Flow-Factory reward server"
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return "is this the URL of a reward server? It should answer GET /health and POST /compute under it"
	}
	return ""
}
