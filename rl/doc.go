// Package rl holds the reinforcement-learning side of flowtune: group-relative advantages and
// the losses of Advantage Weighted Matching (AWM), Reinforce Adjoint Matching (RAM),
// Flow-GRPO and DiffusionNFT for rectified-flow models (docs/algorithms.md §2, §4–§6).
//
// Conventions: t = σ = 1 is noise and t = 0 is data; x_σ = (1−σ)·x0 + σ·ε; the network predicts
// v = ε − x0. Every per-sample error is a mean over the sample's elements, never a sum. Every
// stop-gradient quantity (reference, lagged and EMA velocities, targets, old log-probs) is
// computed under tensor.NoGrad and enters the loss as a constant; the only taped forward of a
// loss is the current policy's v_θ.
//
// The policies are one network with LoRA adapter sets (Policies): the reference model is the
// base with adapters off, the trained policy, a lagged "old" copy and AWM's KL-EMA copy are
// named adapters on the same base.
//
// One file per idea: advantage.go (group-relative advantages), awm.go, ram.go, flowgrpo.go and
// nft.go (the four losses), policy.go (the adapter sets), batch.go (endpoints and their
// re-noising draws). The training loop, its configuration, evaluation, checkpoints and
// comparisons live in package rl/train.
package rl
