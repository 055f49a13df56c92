package reward

// Reward URLs may carry credentials (user:password@host, ?token=…). Whatever prints or stores
// a URL prints or stores RedactURL's form, so that they stay out of logs, configs and
// checkpoints; tokens are better passed by $FLOWTUNE_REWARD_TOKEN or a token file.

import (
	"errors"
	"net/url"
	"strings"
)

// Redacted replaces a credential in a redacted URL.
const Redacted = "REDACTED"

// RedactURL returns raw with its user information and the values of its credential-like query
// parameters (token, key, secret, password, auth, signature, session, code and the like)
// replaced by Redacted, and its fragment dropped. A URL with none of these is returned as
// written. A string that is not a URL loses
// everything between "//" and "@", and its query's values.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		s := raw
		if i := strings.Index(s, "//"); i >= 0 {
			if j := strings.LastIndex(s[i+2:], "@"); j >= 0 {
				s = s[:i+2] + Redacted + s[i+2+j:]
			}
		}
		if base, q, ok := strings.Cut(s, "?"); ok {
			s = base + "?" + redactQuery(q, true)
		}
		return s
	}
	q := redactQuery(u.RawQuery, false)
	if u.User == nil && q == u.RawQuery && u.Fragment == "" {
		return raw // nothing to hide: keep it exactly as written
	}
	if u.User != nil {
		u.User = url.User(Redacted)
	}
	u.RawQuery, u.Fragment, u.RawFragment = q, "", ""
	return u.String()
}

// redactQuery masks the values of credential-like keys of a raw query (of every key if all),
// keeping the order and spelling of the rest.
func redactQuery(q string, all bool) string {
	if q == "" {
		return q
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, _, hasV := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if hasV && (all || secretKey(name)) {
			parts[i] = k + "=" + Redacted
		}
	}
	return strings.Join(parts, "&")
}

// secretKey reports whether a query key names a credential.
func secretKey(k string) bool {
	k = strings.ToLower(strings.NewReplacer("-", "", "_", "", ".", "").Replace(k))
	for _, s := range []string{"token", "secret", "passw", "apikey", "auth", "credential", "signature", "session", "jwt"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	switch k {
	case "key", "sig", "pass", "pwd", "code":
		return true
	}
	return strings.HasSuffix(k, "key")
}

// errRedacted is the error for a URL whose credentials were redacted (a run's stored config).
var errRedacted = errors.New("its credentials read " + Redacted + ": the URL comes from a stored config, where flowtune " +
	"never writes credentials; give the URL with them again (on -resume: -reward …), or better, pass a bearer token by $" +
	TokenEnv + " or reward_token_file")

// isRedacted reports whether u carries a credential that RedactURL masked.
func isRedacted(u *url.URL) bool {
	if u.User != nil && u.User.Username() == Redacted {
		return true
	}
	for k, vs := range u.Query() {
		for _, v := range vs {
			if v == Redacted && secretKey(k) {
				return true
			}
		}
	}
	return false
}
