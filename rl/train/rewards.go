package train

// The run's rewards: their spec as shown and stored, the token of remote ones, and the checks
// on their scores.
//
// The reward spec as shown and stored. A server's URL may carry credentials
// (user:password@host, ?token=…); wherever the spec is printed or written (config.yaml, the
// safetensors metadata, logs, errors) they read REDACTED (reward.RedactURL). The bearer token
// of remote rewards is read instead from reward_token_file or $FLOWTUNE_REWARD_TOKEN and never
// stored: a resumed run reads it again.

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"strconv"
	"strings"

	"github.com/flowtune/flowtune/rl/reward"
)

// String is the entry as the spec writes it, its URL redacted.
func (rw RewardWeight) String() string {
	w := strconv.FormatFloat(rw.Weight, 'g', -1, 64)
	if rw.URL != "" {
		return rw.Name + "@" + reward.RedactURL(rw.URL) + "=" + w
	}
	return rw.Name + "=" + w
}

// RedactSpec is a reward spec with the credentials of its server URLs redacted, otherwise as
// written (weights and names kept, whether the spec is valid or not).
func RedactSpec(spec string) string {
	parts := strings.Split(spec, ",")
	for i, p := range parts {
		name, rest, remote := strings.Cut(p, "@")
		if !remote {
			continue
		}
		weight := ""
		if j := strings.LastIndex(rest, "="); j >= 0 {
			if _, err := strconv.ParseFloat(strings.TrimSpace(rest[j+1:]), 64); err == nil {
				rest, weight = rest[:j], rest[j:]
			}
		}
		parts[i] = name + "@" + reward.RedactURL(strings.TrimSpace(rest)) + weight
	}
	return strings.Join(parts, ",")
}

// remoteToken is the bearer token for the remote rewards among rws: from reward_token_file,
// else $FLOWTUNE_REWARD_TOKEN, else none. It is read only when there are remote rewards.
func (c Config) remoteToken(rws []RewardWeight) (string, error) {
	for _, rw := range rws {
		if rw.URL != "" {
			tok, _, err := reward.ReadToken(c.RewardTokenFile)
			if err != nil {
				return "", fmt.Errorf("config: reward_token_file: %w", err)
			}
			return tok, nil
		}
	}
	return "", nil
}

// score scores imgs for prompts with rw. A score that is not finite, or beyond
// ±reward.MaxRewardMagnitude (training statistics overflow on it), is an error like any other.
func (rw namedReward) score(prompts []string, meta []json.RawMessage, imgs []image.Image) ([]float64, error) {
	s, err := reward.ScoreAllMetadata(rw.r, prompts, meta, imgs)
	if err != nil {
		return nil, err
	}
	for i, v := range s {
		if !(math.Abs(v) <= reward.MaxRewardMagnitude) {
			return nil, fmt.Errorf("image %d scores %v, not a finite number within ±%g", i, v, reward.MaxRewardMagnitude)
		}
	}
	return s, nil
}

// checkTotals fails the step (a reward failure: checkpoint, then resume) when a weighted reward
// is not finite, as huge weights times large rewards can make it.
func checkTotals(step int, total []float64) error {
	for i, v := range total {
		if !finite(v) {
			return rewardFailure(fmt.Errorf("step %d: image %d's weighted reward Σ weight × reward is %v: the reward weights are too large", step, i, v))
		}
	}
	return nil
}
