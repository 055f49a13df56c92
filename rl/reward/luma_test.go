package reward

import "github.com/flowtune/flowtune/rl/reward/rewardtest"

// luma is the mean-brightness test reward under the name the server's tests use for it (the
// shared copy lives in rewardtest since the test rewards were deduplicated).
type luma = rewardtest.Brightness
