package tensor

// Differentiable ops. Each op checks shapes in Go (panicking with the op name and the shapes),
// runs its forward pass through the Backend primitives only, and records on the tape a
// backward function written with the same ops (it runs under NoGrad). The ops live in files by
// family:
//
//	ops_elementwise.go  Add Sub Mul Div Maximum Minimum (broadcasting), AddScalar MulScalar Pow
//	                    Clamp Neg Exp Log Sqrt Square Abs Tanh Sigmoid SiLU GELU ReLU
//	ops_reduce.go       Sum Mean SumKeep MeanKeep
//	ops_shape.go        Reshape Permute Transpose Concat Split Slice BroadcastTo
//	ops_linalg.go       MatMul MatMulT Linear
//	ops_nn.go           Softmax LayerNorm RMSNorm Attention Embedding
//	ops_fused.go        MSE SqErr SDELogProb SDESample
//	broadcast.go        the broadcasting and reduction plans shared by the above
//
// Broadcasting follows NumPy: shapes are aligned from the right, a size-1 (or missing) axis
// stretches. The gradient of a broadcast operand is summed back to its shape.
