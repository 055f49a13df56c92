package train

// Credentials in a reward server's URL (http://user:password@host/…, or a token in the query)
// must not reach the files and logs a run writes: config.yaml and the safetensors metadata are
// shared with results, logs are pasted into issues. Everything the trainer writes or logs passes
// through redactSecrets, which replaces them with "xxxxx" (the marker of url.URL.Redacted). A
// config.yaml so redacted no longer holds the secret, so resuming asks for it again (-reward).

import (
	"fmt"
	"regexp"
)

// redactedMark replaces a secret.
const redactedMark = "xxxxx"

var (
	// userinfo with a password: scheme://user:password@
	urlPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s:]*:)([^/?#@\s]*)@`)
	// query parameters that carry credentials
	urlSecretParam = regexp.MustCompile(`(?i)([?&](?:token|access_token|api_key|apikey|key|secret|password|passwd|pwd|auth|sig|signature)=)([^&#\s",]*)`)
)

// redactSecrets returns s with URL passwords and credential query values replaced by xxxxx.
func redactSecrets(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}"+redactedMark+"@")
	return urlSecretParam.ReplaceAllString(s, "${1}"+redactedMark)
}

// redacted is c as the run's files show it: the reward spec without credentials.
func (c Config) redacted() Config {
	c.Reward = redactSecrets(c.Reward)
	return c
}

// redactedYAML is the config.yaml (and safetensors metadata) text of c.
func (c Config) redactedYAML() ([]byte, error) { return c.redacted().YAML() }

// checkNotRedacted rejects a reward URL whose credentials were redacted in the file it came from.
func checkNotRedacted(rw RewardWeight) error {
	for _, re := range []*regexp.Regexp{urlPassword, urlSecretParam} {
		for _, m := range re.FindAllStringSubmatch(rw.URL, -1) {
			if m[2] == redactedMark {
				return fmt.Errorf("config: reward %s: the credentials in its URL were replaced by %s when the run's files were written; "+
					"give the reward again with them (-reward %s@URL…): flags override config.yaml", rw.Name, redactedMark, rw.Name)
			}
		}
	}
	return nil
}
