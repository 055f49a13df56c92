package reward

import (
	"encoding/json"
	"fmt"
	"image"
)

// MetadataReward is a reward that can use each image's prompt metadata (a JSON object such
// as a GenEval line: "tag", "include", "exclude", …). Remote is one: it forwards the metadata
// to its server in the request's optional "metadata" list.
type MetadataReward interface {
	Reward
	ScoreBatchMetadata(prompts []string, meta []json.RawMessage, imgs []image.Image) ([]float64, error)
}

// ScoreAllMetadata is ScoreAll that hands meta[i] (the metadata of prompts[i], nil for none)
// to rewards that take it. meta may be nil; rewards that do not take metadata score as
// ScoreAll does.
func ScoreAllMetadata(r Reward, prompts []string, meta []json.RawMessage, imgs []image.Image) ([]float64, error) {
	mr, ok := r.(MetadataReward)
	if !ok || meta == nil {
		return ScoreAll(r, prompts, imgs)
	}
	if len(prompts) != len(imgs) || len(meta) != len(imgs) {
		return nil, fmt.Errorf("reward %s: %d prompts and %d metadata entries for %d images", r.Name(), len(prompts), len(meta), len(imgs))
	}
	if len(imgs) == 0 {
		return []float64{}, nil
	}
	s, err := mr.ScoreBatchMetadata(prompts, meta, imgs)
	if err != nil {
		return nil, err
	}
	if len(s) != len(imgs) {
		return nil, fmt.Errorf("reward %s: %d scores for %d images", r.Name(), len(s), len(imgs))
	}
	return s, nil
}
