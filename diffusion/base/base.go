// Package base ships flowtune's pretrained base model: an MMDiT of 9.3 M parameters (width 192,
// depth 8) trained on the built-in world, stored as bfloat16 and embedded in the binary so that
// fine-tuning never waits for pretraining.
//
// Reproduce it (two stages of about two hours each on two CPU cores) with
//
//	go run ./cmd/pretrain -recipe shipped -out runs/base && cp runs/base/base.safetensors diffusion/base/
//
// The previous shipped base (2.06 M parameters, `-recipe small`) is kept beside it as
// previous/base-2m.safetensors for the measurements made on it (cmd/finetune -model).
//
// Its held-out scores are in README.md.
package base

import (
	"fmt"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/tensor"
)

// Name is how logs and run directories refer to the shipped model.
const Name = "flowtune-base (embedded diffusion/base/base.safetensors)"

// Bytes returns the embedded checkpoint file.
func Bytes() []byte { return checkpoint }

// embedded reports whether this binary carries the base model (it does unless built with
// -tags noembedbase).
func embedded() bool { return len(checkpoint) > 0 }

// Load builds the shipped base model on backend b.
func Load(b tensor.Backend) (*diffusion.Model, error) {
	if !embedded() {
		return nil, fmt.Errorf("this binary was built with -tags noembedbase, without the embedded base model: " +
			"pass -model diffusion/base/base.safetensors (the same file, from a checkout)")
	}
	m, _, err := diffusion.DecodeModel(b, Name, checkpoint)
	if err != nil {
		return nil, fmt.Errorf("the embedded base model is unreadable (rebuild from a clean checkout): %w", err)
	}
	return m, nil
}
