// Package diffusion holds the rectified-flow machinery shared by pretraining and RL:
// noising, velocity targets, timestep schedules, the ODE and SDE samplers, and the model.
//
// Conventions (docs/algorithms.md §1): t = σ = 1 is noise, t = 0 is data; x_t = (1−t)·x0 + t·ε; the network
// predicts the velocity v = ε − x0; sampling runs σ from 1 down to 0.
package diffusion
