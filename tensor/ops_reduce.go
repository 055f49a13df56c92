package tensor

import "fmt"

// Reductions. Negative axes count from the end; the reduced axes are removed (SumKeep/MeanKeep
// keep them with size 1). With no axes, every axis is reduced to a 0-d tensor.
//
// The forward pass groups neighbouring reduced axes into runs and issues one Backend.Sum per
// run (see sumAxes); the backward pass stretches the gradient back over the reduced axes.

// Sum adds x over the given axes, removing them.
func Sum(x *Tensor, axes ...int) *Tensor { return reduceSum("Sum", x, axes, false, false) }

// Mean averages x over the given axes, removing them.
func Mean(x *Tensor, axes ...int) *Tensor { return reduceSum("Mean", x, axes, false, true) }

// SumKeep adds x over the given axes, keeping them with size 1.
func SumKeep(x *Tensor, axes ...int) *Tensor { return reduceSum("SumKeep", x, axes, true, false) }

// MeanKeep averages x over the given axes, keeping them with size 1.
func MeanKeep(x *Tensor, axes ...int) *Tensor { return reduceSum("MeanKeep", x, axes, true, true) }

func reduceSum(name string, x *Tensor, axes []int, keep, mean bool) *Tensor {
	reduce := reducedAxes(name, x.shape, axes)
	keepShape := make([]int, len(x.shape)) // x's shape with reduced axes set to 1
	var outShape []int
	count := 1 // elements summed into each output
	for i, d := range x.shape {
		if reduce[i] {
			keepShape[i] = 1
			count *= d
			if keep {
				outShape = append(outShape, 1)
			}
			continue
		}
		keepShape[i] = d
		outShape = append(outShape, d)
	}
	if outShape == nil {
		outShape = []int{}
	}
	out := FromStorage(sumAxes(x.data, x.shape, reduce), outShape...)
	out = record(out, name, func(g *Tensor) []*Tensor {
		return []*Tensor{BroadcastTo(Reshape(g, keepShape...), x.shape...)}
	}, x)
	if mean {
		out = MulScalar(out, 1/float32(count))
	}
	return out
}

// reducedAxes flags the axes named in axes (all of them when axes is empty), panicking on an
// out-of-range or repeated axis.
func reducedAxes(name string, shape []int, axes []int) []bool {
	reduce := make([]bool, len(shape))
	if len(axes) == 0 {
		for i := range reduce {
			reduce[i] = true
		}
		return reduce
	}
	for _, a := range axes {
		i := a
		if i < 0 {
			i += len(shape)
		}
		if i < 0 || i >= len(shape) {
			panic(fmt.Sprintf("tensor.%s: axis %d out of range for shape %v", name, a, shape))
		}
		if reduce[i] {
			panic(fmt.Sprintf("tensor.%s: axis %d repeated in %v", name, a, axes))
		}
		reduce[i] = true
	}
	return reduce
}
