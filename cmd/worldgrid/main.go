// Command worldgrid renders a PNG grid of ground-truth images from flowtune's built-in world,
// each upscaled with its caption underneath, for checking by eye that shapes and signs are
// legible at the training resolution.
//
//	worldgrid -out grid.png [-size 32] [-cols 8] [-rows 6] [-zoom 4] [-seed 1] [-pretrain]
//
// By default each row shows training prompts of one task (compose, text, pref in turn) with
// their exact prompts; -pretrain shows pretraining samples with their imperfect captions.
package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand"
	"os"
	"strings"

	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/internal/cli"
)

func main() {
	os.Exit(cli.Report(os.Stderr, "worldgrid", runArgs(os.Args[1:], os.Stdout)))
}

// runArgs parses the command line and renders the grid.
func runArgs(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("worldgrid", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: worldgrid [flags]\n\nRenders ground-truth images of the built-in world with their captions.\n\nflags:\n")
		fs.PrintDefaults()
	}
	out := fs.String("out", "grid.png", "output PNG file")
	size := fs.Int("size", 32, "image side in pixels (≥ 32)")
	cols := fs.Int("cols", 8, "images per row")
	rows := fs.Int("rows", 6, "rows")
	zoom := fs.Int("zoom", 4, "integer upscaling of each image")
	seed := fs.Uint64("seed", 1, "world and sampling seed")
	pretrain := fs.Bool("pretrain", false, "show pretraining samples with imperfect captions")
	if err := cli.Parse(fs, args, stdout); err != nil {
		return err
	}
	return run(*out, *size, *cols, *rows, *zoom, *seed, *pretrain)
}

func run(out string, size, cols, rows, zoom int, seed uint64, pretrain bool) error {
	if cols < 1 || rows < 1 || zoom < 1 {
		return fmt.Errorf("-cols, -rows and -zoom must be positive")
	}
	cfg := world.DefaultConfig()
	cfg.Size, cfg.Seed = size, seed
	w, err := world.New(cfg)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(int64(seed)))
	cell := size * zoom
	lineH, charW := world.GlyphH+2, world.GlyphW+1
	perLine := max(1, (cell-2)/charW)
	const lines = 4
	capH := lines*lineH + 4
	grid := image.NewRGBA(image.Rect(0, 0, cols*(cell+4), rows*(cell+capH+4)))
	fill(grid, grid.Bounds(), color.RGBA{40, 40, 40, 255})
	for r := 0; r < rows; r++ {
		task := w.Tasks()[r%len(w.Tasks())]
		for c := 0; c < cols; c++ {
			var img *image.RGBA
			var caption string
			if pretrain {
				img, caption = w.Sample(rng)
			} else {
				caption = task.Train[(r/len(w.Tasks())*cols+c)%len(task.Train)]
				if img, err = task.RenderPrompt(caption, rng); err != nil {
					return err
				}
			}
			x0, y0 := c*(cell+4)+2, r*(cell+capH+4)+2
			for y := 0; y < cell; y++ {
				for x := 0; x < cell; x++ {
					grid.Set(x0+x, y0+y, img.At(x/zoom, y/zoom))
				}
			}
			if caption == "" {
				caption = "(empty)"
			}
			for i, line := range wrap(caption, perLine, lines) {
				drawString(grid, x0+1, y0+cell+3+i*lineH, line)
			}
		}
	}
	return atomicfile.Write(out, func(w io.Writer) error { return png.Encode(w, grid) })
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// wrap breaks text into at most maxLines lines of at most width characters at spaces.
func wrap(text string, width, maxLines int) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(text) {
		switch {
		case cur == "":
			cur = word
		case len(cur)+1+len(word) <= width:
			cur += " " + word
		default:
			lines = append(lines, cur)
			cur = word
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	if len(lines) > maxLines {
		lines = lines[:maxLines]
	}
	return lines
}

// drawString writes s in light grey with the world's font at scale 1.
func drawString(img *image.RGBA, x, y int, s string) {
	ink := color.RGBA{230, 230, 230, 255}
	for i, r := range s {
		g := world.Glyph(r)
		for fy := 0; fy < world.GlyphH; fy++ {
			for fx := 0; fx < world.GlyphW; fx++ {
				if g[fy][fx] {
					img.SetRGBA(x+i*(world.GlyphW+1)+fx, y+fy, ink)
				}
			}
		}
	}
}
