package reward

import (
	"math"
	"testing"
)

func TestLevenshtein(t *testing.T) {
	cases := []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"", "ABC", 3}, {"ABC", "", 3}, {"ABC", "ABC", 0},
		{"KITTEN", "SITTING", 3}, {"K7Q", "KQ", 1}, {"AB", "BA", 2}, {"ABCD", "XABC", 2},
	}
	for _, c := range cases {
		if got := Levenshtein(c.a, c.b); got != c.d {
			t.Errorf("Levenshtein(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
		if got := Levenshtein(c.b, c.a); got != c.d {
			t.Errorf("Levenshtein(%q, %q) = %d, want %d (symmetry)", c.b, c.a, got, c.d)
		}
	}
}

func TestTextSimilarity(t *testing.T) {
	cases := []struct {
		target, read string
		want         float64
	}{
		{"K7Q", "K7Q", 1}, {"K7Q", "", 0}, {"K7Q", "K7", 2.0 / 3}, {"AB", "ABCD", 0.5},
		{"ABCD", "WXYZ", 0}, {"", "", 1},
	}
	for _, c := range cases {
		if got := TextSimilarity(c.target, c.read); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("TextSimilarity(%q, %q) = %g, want %g", c.target, c.read, got, c.want)
		}
	}
}
