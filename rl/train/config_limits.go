package train

// Checks of the config that hold whatever the algorithm: every number is finite (NaN and ±Inf
// are refused where a key is read, and again here for configs built in code), and counts stay
// where the products the trainer forms of them cannot overflow.

import (
	"fmt"
	"math"
	"reflect"
)

// maxCount bounds every count key (steps, prompts, ranks, …): far beyond any run this machine
// could hold, small enough that products of a few counts fit an int. Whether a configuration
// fits in memory is estimated separately, when the model is known (memoryEstimate).
const maxCount = 1 << 30

// checkNumbers reports the first non-finite float key and the first count key beyond maxCount.
func (c Config) checkNumbers() error {
	for _, k := range c.Keys() {
		switch k.Value.Kind() {
		case reflect.Float64:
			if v := k.Value.Float(); math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("config: %s must be a finite number (got %v)", k.Path, v)
			}
		case reflect.Int:
			if v := k.Value.Int(); v > maxCount {
				return fmt.Errorf("config: %s = %d is beyond any workable size (at most %d)", k.Path, v, maxCount)
			}
		}
	}
	return nil
}
