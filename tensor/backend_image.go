package tensor

// Argument types of the image primitives of Backend (GroupNorm, Im2Col, Col2Im).

// GroupNormArgs describes a group normalisation of N images of C channels of HW pixels each,
// stored [N, C, HW]; the C channels fall into Groups consecutive groups (C divisible by Groups).
type GroupNormArgs struct {
	N, C, HW, Groups int
	Eps              float32
}

// Rows is the number of normalised units (N·Groups), RowLen the elements of one (C/Groups·HW).
func (a GroupNormArgs) Rows() int   { return a.N * a.Groups }
func (a GroupNormArgs) RowLen() int { return a.C / a.Groups * a.HW }

// ConvArgs describes the patch layout of a 2-D convolution over Batch images [C, H, W] with a
// KH×KW kernel, the same stride and zero padding on both axes, giving OH×OW outputs:
// OH = (H + 2·Pad − KH)/Stride + 1, and likewise OW.
type ConvArgs struct {
	Batch, C, H, W int
	KH, KW         int
	Stride, Pad    int
	OH, OW         int
}

// ColRows is C·KH·KW (the GEMM's inner dimension), ColCols is OH·OW.
func (a ConvArgs) ColRows() int { return a.C * a.KH * a.KW }
func (a ConvArgs) ColCols() int { return a.OH * a.OW }

// ConvOut returns the output size of one axis of length n.
func ConvOut(n, k, stride, pad int) int { return (n+2*pad-k)/stride + 1 }
