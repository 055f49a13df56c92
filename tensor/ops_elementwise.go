package tensor

import "fmt"

// Elementwise ops: broadcasting binaries and unary maps.
//
// Broadcasting follows NumPy: shapes are aligned from the right, a size-1 (or missing) axis
// stretches. The gradient of a broadcast operand is summed back to its shape.

// binaryRaw applies op with broadcasting and records nothing.
func binaryRaw(name string, op BinaryOp, a, b *Tensor) *Tensor {
	be := mustSameBackend(name, a, b)
	shape := broadcastShape(name, a.shape, b.shape)
	p := planBinary(name, shape, a.shape, b.shape)
	out := Empty(be, shape...)
	be.Binary(op, out.data, a.data, p.sa, b.data, p.sb, p.shape)
	return out
}

// Add returns a + b.
func Add(a, b *Tensor) *Tensor {
	out := binaryRaw("Add", OpAdd, a, b)
	return record(out, "Add", func(g *Tensor) []*Tensor {
		var ga, gb *Tensor
		if a.requiresGrad {
			ga = sumTo(g, a.shape)
		}
		if b.requiresGrad {
			gb = sumTo(g, b.shape)
		}
		return []*Tensor{ga, gb}
	}, a, b)
}

// Sub returns a − b.
func Sub(a, b *Tensor) *Tensor {
	out := binaryRaw("Sub", OpSub, a, b)
	return record(out, "Sub", func(g *Tensor) []*Tensor {
		var ga, gb *Tensor
		if a.requiresGrad {
			ga = sumTo(g, a.shape)
		}
		if b.requiresGrad {
			gb = sumTo(Neg(g), b.shape)
		}
		return []*Tensor{ga, gb}
	}, a, b)
}

// Mul returns a · b.
func Mul(a, b *Tensor) *Tensor {
	out := binaryRaw("Mul", OpMul, a, b)
	return record(out, "Mul", func(g *Tensor) []*Tensor {
		var ga, gb *Tensor
		if a.requiresGrad {
			ga = sumTo(Mul(g, b), a.shape)
		}
		if b.requiresGrad {
			gb = sumTo(Mul(g, a), b.shape)
		}
		return []*Tensor{ga, gb}
	}, a, b)
}

// Div returns a / b.
func Div(a, b *Tensor) *Tensor {
	out := binaryRaw("Div", OpDiv, a, b)
	return record(out, "Div", func(g *Tensor) []*Tensor {
		var ga, gb *Tensor
		if a.requiresGrad {
			ga = sumTo(Div(g, b), a.shape)
		}
		if b.requiresGrad { // ∂(a/b)/∂b = −(a/b)/b
			gb = sumTo(Neg(Div(Mul(g, out), b)), b.shape)
		}
		return []*Tensor{ga, gb}
	}, a, b)
}

// Maximum returns the elementwise max(a, b); the gradient goes to a where a >= b, else to b.
func Maximum(a, b *Tensor) *Tensor {
	out := binaryRaw("Maximum", OpMax, a, b)
	return record(out, "Maximum", func(g *Tensor) []*Tensor {
		return routeByMask(g, binaryRaw("Maximum", OpGE, a, b), a, b)
	}, a, b)
}

// Minimum returns the elementwise min(a, b); the gradient goes to a where a <= b, else to b.
func Minimum(a, b *Tensor) *Tensor {
	out := binaryRaw("Minimum", OpMin, a, b)
	return record(out, "Minimum", func(g *Tensor) []*Tensor {
		return routeByMask(g, binaryRaw("Minimum", OpGE, b, a), a, b)
	}, a, b)
}

// routeByMask sends g·mask to a and g·(1−mask) to b, each summed back to its shape.
func routeByMask(g, mask, a, b *Tensor) []*Tensor {
	ga := Mul(g, mask)
	var gb *Tensor
	if b.requiresGrad {
		gb = sumTo(Sub(g, ga), b.shape)
	}
	return []*Tensor{sumTo(ga, a.shape), gb}
}

// unaryRaw applies a unary map and records nothing.
func unaryRaw(op UnaryOp, x *Tensor, p float32) *Tensor {
	be := x.Backend()
	out := Empty(be, x.shape...)
	be.Unary(op, out.data, x.data, p)
	return out
}

// unary applies a unary map whose derivative the backend provides (UnaryBackward).
func unary(name string, op UnaryOp, x *Tensor, p float32) *Tensor {
	out := unaryRaw(op, x, p)
	return record(out, name, func(g *Tensor) []*Tensor {
		be := x.Backend()
		dx := Zeros(be, x.shape...)
		be.UnaryBackward(op, dx.data, x.data, g.data, p)
		return []*Tensor{dx}
	}, x)
}

// AddScalar returns x + s.
func AddScalar(x *Tensor, s float32) *Tensor {
	out := unaryRaw(OpAddScalar, x, s)
	return record(out, "AddScalar", func(g *Tensor) []*Tensor { return []*Tensor{g} }, x)
}

// MulScalar returns x · s.
func MulScalar(x *Tensor, s float32) *Tensor {
	out := unaryRaw(OpMulScalar, x, s)
	return record(out, "MulScalar", func(g *Tensor) []*Tensor {
		return []*Tensor{MulScalar(g, s)}
	}, x)
}

// Neg returns −x.
func Neg(x *Tensor) *Tensor {
	out := unaryRaw(OpNeg, x, 0)
	return record(out, "Neg", func(g *Tensor) []*Tensor { return []*Tensor{Neg(g)} }, x)
}

// Pow returns x^p (x > 0 unless p is a whole number).
func Pow(x *Tensor, p float32) *Tensor { return unary("Pow", OpPow, x, p) }

// Clamp limits x to [lo, hi]; the gradient is 0 outside the interval.
func Clamp(x *Tensor, lo, hi float32) *Tensor {
	if lo > hi {
		panic(fmt.Sprintf("tensor.Clamp: lo %g > hi %g", lo, hi))
	}
	out := unaryRaw(OpClampMax, unaryRaw(OpClampMin, x, lo), hi)
	return record(out, "Clamp", func(g *Tensor) []*Tensor {
		be := x.Backend()
		inside := Mul(binaryRaw("Clamp", OpGE, x, Scalar(be, lo)), binaryRaw("Clamp", OpGE, Scalar(be, hi), x))
		return []*Tensor{Mul(g, inside)}
	}, x)
}

// Exp returns eˣ.
func Exp(x *Tensor) *Tensor { return unary("Exp", OpExp, x, 0) }

// Log returns ln x.
func Log(x *Tensor) *Tensor { return unary("Log", OpLog, x, 0) }

// Sqrt returns √x.
func Sqrt(x *Tensor) *Tensor { return unary("Sqrt", OpSqrt, x, 0) }

// Square returns x².
func Square(x *Tensor) *Tensor { return unary("Square", OpSquare, x, 0) }

// Abs returns |x|.
func Abs(x *Tensor) *Tensor { return unary("Abs", OpAbs, x, 0) }

// Tanh returns tanh x.
func Tanh(x *Tensor) *Tensor { return unary("Tanh", OpTanh, x, 0) }

// Sigmoid returns 1/(1+e^−x).
func Sigmoid(x *Tensor) *Tensor { return unary("Sigmoid", OpSigmoid, x, 0) }

// SiLU returns x·sigmoid(x).
func SiLU(x *Tensor) *Tensor { return unary("SiLU", OpSiLU, x, 0) }

// GELU is the tanh approximation ½x(1+tanh(√(2/π)(x+0.044715x³))).
func GELU(x *Tensor) *Tensor { return unary("GELU", OpGELU, x, 0) }

// ReLU returns max(x, 0).
func ReLU(x *Tensor) *Tensor { return unary("ReLU", OpReLU, x, 0) }
