package reward

import (
	"fmt"
	"image"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/flowtune/flowtune/diffusion/world"
)

// Reward scores one image for its prompt; higher is better.
type Reward interface {
	Name() string
	Score(prompt string, img image.Image) (float64, error)
}

// BatchReward is a Reward that scores many images in one call more cheaply than one at a time
// (a remote server: one request instead of one per image). ScoreAll uses ScoreBatch when a
// reward has it.
type BatchReward interface {
	Reward
	// ScoreBatch returns one score per image, scores[i] for imgs[i] under prompts[i].
	ScoreBatch(prompts []string, imgs []image.Image) ([]float64, error)
}

var registry = []Reward{
	composeReward{}, composeReward{strict: true}, ocrReward{}, jpegReward{}, prefReward{},
}

// Names lists the registered rewards.
func Names() []string {
	out := make([]string, len(registry))
	for i, r := range registry {
		out[i] = r.Name()
	}
	return out
}

// ByName returns the reward called name.
func ByName(name string) (Reward, error) {
	for _, r := range registry {
		if r.Name() == name {
			return r, nil
		}
	}
	return nil, fmt.Errorf("reward: unknown reward %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// checkSize rejects images the detectors were not designed for (world images are square).
func checkSize(name string, img image.Image) error {
	b := img.Bounds()
	if b.Dx() != b.Dy() || b.Dx() < world.MinSize {
		return fmt.Errorf("reward %s: image is %d×%d, the detectors need a square of at least %d×%d",
			name, b.Dx(), b.Dy(), world.MinSize, world.MinSize)
	}
	return nil
}

// ScoreAll scores imgs[i] for prompts[i] with r. A BatchReward gets all the images in one
// ScoreBatch call. Any other reward is called image by image, spread over GOMAXPROCS goroutines
// (the rewards keep no state, so this is safe); every image is scored and the first error (by
// index) is returned with its index.
func ScoreAll(r Reward, prompts []string, imgs []image.Image) ([]float64, error) {
	if len(prompts) != len(imgs) {
		return nil, fmt.Errorf("reward %s: %d prompts for %d images", r.Name(), len(prompts), len(imgs))
	}
	if br, ok := r.(BatchReward); ok {
		if len(imgs) == 0 {
			return []float64{}, nil
		}
		s, err := br.ScoreBatch(prompts, imgs)
		if err != nil {
			return nil, err
		}
		if len(s) != len(imgs) {
			return nil, fmt.Errorf("reward %s: %d scores for %d images", r.Name(), len(s), len(imgs))
		}
		return s, nil
	}
	out := make([]float64, len(imgs))
	errs := make([]error, len(imgs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(imgs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(imgs); i = int(next.Add(1) - 1) {
				out[i], errs[i] = r.Score(prompts[i], imgs[i])
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return out, fmt.Errorf("image %d: %w", i, err)
		}
	}
	return out, nil
}
