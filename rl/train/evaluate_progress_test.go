package train

import (
	"testing"
	"time"
)

// A long evaluation reports its progress at most once per interval, never for the last image,
// and extrapolates the time left from the mean pace so far.
func TestEvalProgressPacesItsLines(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	p := newProgress(t0, 100, 20*time.Second)
	if _, ok := p.tick(10, t0.Add(5*time.Second)); ok {
		t.Fatal("reported before the first interval had passed")
	}
	eta, ok := p.tick(25, t0.Add(20*time.Second))
	if !ok || eta != 60*time.Second {
		t.Fatalf("at 25 of 100 images after 20 s: eta %v (reported %v), want 1m0s", eta, ok)
	}
	if _, ok := p.tick(30, t0.Add(30*time.Second)); ok {
		t.Fatal("reported again 10 s after the last line")
	}
	if eta, ok := p.tick(80, t0.Add(40*time.Second)); !ok || eta != 10*time.Second {
		t.Fatalf("at 80 of 100 after 40 s: eta %v (reported %v), want 10s", eta, ok)
	}
	if _, ok := p.tick(100, t0.Add(90*time.Second)); ok {
		t.Fatal("reported the last image; the evaluation's own line follows it")
	}
}
