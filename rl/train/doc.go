// Package train is the fine-tuning machinery around the algorithms of package rl: the training
// loop (rollouts, rewards, advantages, the algorithm's loss, the optimizer step and the lagged
// adapters), the job's configuration (YAML file, command-line flags and validation), held-out
// evaluation, checkpoints that resume a run bit for bit on the CPU, and head-to-head comparisons
// of the algorithms. cmd/finetune is its command-line front end.
package train
