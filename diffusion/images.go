package diffusion

import (
	"fmt"
	"image"
	"image/png"
	"io"

	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/tensor"
)

// Images converts a batch of model outputs x [B, C, H, W] in [−1, 1] to RGB images.
func Images(x *tensor.Tensor) []*image.RGBA {
	if x.Dims() != 4 || x.Dim(1) != 3 {
		panic(fmt.Sprintf("diffusion.Images: want [B, 3, H, W], got %v", x.Shape()))
	}
	return world.BatchFromCHW(x.Data(), x.Dim(2), x.Dim(3))
}

// SavePNG writes img to path atomically.
func SavePNG(path string, img image.Image) error {
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}
