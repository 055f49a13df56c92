// Package nn holds the layers flowtune's models are built from (linear layers with LoRA
// adapters, norms, attention, MLPs, embeddings, the MMDiT joint block), a tiny module system that
// names their parameters PyTorch-style, and the training utilities that act on parameter lists
// (AdamW, gradient-norm clipping, EMA).
//
// Every layer computes with the differentiable ops of package tensor, so gradients come from the
// tape; nothing here writes a backward pass by hand.
package nn
