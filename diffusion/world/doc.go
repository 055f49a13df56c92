// Package world is flowtune's built-in text-to-image world: a prompt grammar with its Spec,
// a tokenizer, a renderer of shapes and signs on small black RGB images, train and held-out
// prompt sets for three tasks, and imperfectly captioned pretraining samples.
//
// The tasks mirror the benchmarks of the flow-model RL papers with exact, programmatic
// counterparts: "compose" (GenEval: counts, colours, kinds, positions of shapes), "text"
// (OCR: short strings on a sign) and "pref" (PickScore: any prompt, dense quality score).
// Their rewards live in rl/reward.
package world
