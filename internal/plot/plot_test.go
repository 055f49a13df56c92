package plot

import (
	"image/color"
	"math"
	"testing"
)

func TestTicksAreRoundAndCoverTheRange(t *testing.T) {
	cases := []struct {
		lo, hi  float64
		n       int
		minStep float64
		want    []float64
	}{
		{0, 1, 5, 0, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{0.13, 0.71, 6, 0, []float64{0.2, 0.3, 0.4, 0.5, 0.6, 0.7}},
		{0, 48, 8, 1, []float64{0, 10, 20, 30, 40}},
		{0, 2, 8, 1, []float64{0, 1, 2}}, // whole steps only
		{-3, 3, 6, 0, []float64{-3, -2, -1, 0, 1, 2, 3}},
	}
	for _, c := range cases {
		got := ticks(c.lo, c.hi, c.n, c.minStep)
		if len(got) != len(c.want) {
			t.Fatalf("ticks(%g, %g, %d) = %v, want %v", c.lo, c.hi, c.n, got, c.want)
		}
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-12 {
				t.Fatalf("ticks(%g, %g, %d) = %v, want %v", c.lo, c.hi, c.n, got, c.want)
			}
		}
	}
}

// A line from the lower-left to the upper-right data corner passes through the plot box's
// centre in the series colour; the legend shows the colour too.
func TestChartDrawsSeriesWhereTheDataAre(t *testing.T) {
	red := color.RGBA{200, 0, 0, 255}
	img := Chart("t", "x", "y", []Series{{Name: "s", Col: red, X: []float64{0, 10}, Y: []float64{0, 1}}}, 10)
	// y range 0..1 padded by 5% on each side: the data centre (5, 0.5) is the box centre.
	cx := (marginL + chartW - marginR) / 2
	cy := (marginT + chartH - marginB) / 2
	found := false
	for dy := -2; dy <= 2 && !found; dy++ {
		for dx := -2; dx <= 2; dx++ {
			if img.RGBAAt(cx+dx, cy+dy) == red {
				found = true
				break
			}
		}
	}
	if !found {
		t.Fatalf("no series pixel near the centre (%d, %d)", cx, cy)
	}
	if img.RGBAAt(cx, marginT+5) == red || img.RGBAAt(marginL+5, cy) == red {
		t.Fatal("series colour away from the line")
	}
	if c := img.RGBAAt(2, 2); c != (color.RGBA{255, 255, 255, 255}) {
		t.Fatalf("background %v, want opaque white", c)
	}
}
