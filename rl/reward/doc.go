// Package reward scores generated images for RL post-training: programmatic counterparts of
// the papers' reward models for flowtune's built-in world (diffusion/world).
//
//	compose         GenEval-like: share of the prompt's clauses (counts, colours, kinds,
//	                relation) that a shape detector confirms
//	compose_strict  GenEval's all-or-nothing version of compose
//	ocr             Flow-GRPO's OCR reward: 1 − normalised edit distance to the sign's text
//	jpeg            DDPO's JPEG compressibility: −(size in kB at quality 95)
//	pref            a dense, prompt-free image-quality score standing in for PickScore
//
// Any reward can also live in another process: Handler serves one over HTTP in Flow-Factory's
// remote-reward protocol (cmd/rewardserver), and Remote is the client that scores against such a
// server.
package reward
