package diffusion

import (
	"fmt"
	"image"
	"image/color"
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

// Grid lays images out in rows of cols, each upscaled by scale (nearest neighbour), with a
// 2-pixel grey gutter.
func Grid(imgs []*image.RGBA, cols, scale int) *image.RGBA {
	if len(imgs) == 0 {
		return image.NewRGBA(image.Rect(0, 0, 1, 1))
	}
	if cols <= 0 {
		cols = len(imgs)
	}
	rows := (len(imgs) + cols - 1) / cols
	w, h := imgs[0].Bounds().Dx()*scale, imgs[0].Bounds().Dy()*scale
	const gap = 2
	out := image.NewRGBA(image.Rect(0, 0, cols*(w+gap)+gap, rows*(h+gap)+gap))
	grey := color.RGBA{64, 64, 64, 255}
	for y := 0; y < out.Bounds().Dy(); y++ {
		for x := 0; x < out.Bounds().Dx(); x++ {
			out.SetRGBA(x, y, grey)
		}
	}
	for i, im := range imgs {
		ox, oy := gap+(i%cols)*(w+gap), gap+(i/cols)*(h+gap)
		b := im.Bounds()
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				out.SetRGBA(ox+x, oy+y, im.RGBAAt(b.Min.X+x/scale, b.Min.Y+y/scale))
			}
		}
	}
	return out
}

// SavePNG writes img to path atomically.
func SavePNG(path string, img image.Image) error {
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}
