package world

import (
	"math/rand"
	"strings"
	"testing"
)

func TestParseExamples(t *testing.T) {
	cases := []struct {
		in   string
		want Spec
		out  string // canonical form, "" if same as in
	}{
		{"two red circles and a blue square", composeSpec(Clause{2, Red, Circle}, Clause{1, Blue, Square}), ""},
		{"a green triangle above a yellow circle",
			Spec{Family: Compose, Clauses: []Clause{{1, Green, Triangle}, {1, Yellow, Circle}}, Relation: Above}, ""},
		{"three cyan squares", composeSpec(Clause{3, Cyan, Square}), ""},
		{"a white square right of a magenta circle",
			Spec{Family: Compose, Clauses: []Clause{{1, White, Square}, {1, Magenta, Circle}}, Relation: RightOf}, ""},
		{"a circle left of a square",
			Spec{Family: Compose, Clauses: []Clause{{1, AnyColor, Circle}, {1, AnyColor, Square}}, Relation: LeftOf}, ""},
		{"a red triangle below a red square",
			Spec{Family: Compose, Clauses: []Clause{{1, Red, Triangle}, {1, Red, Square}}, Relation: Below}, ""},
		{"red circles", composeSpec(Clause{0, Red, Circle}), ""},
		{"four triangles", composeSpec(Clause{4, AnyColor, Triangle}), ""},
		{"a red circle and a blue circle and a green square",
			composeSpec(Clause{1, Red, Circle}, Clause{1, Blue, Circle}, Clause{1, Green, Square}), ""},
		{"  One RED   Circle ", composeSpec(Clause{1, Red, Circle}), "a red circle"},
		{`a sign that says "K7Q"`, Spec{Family: Text, Text: "K7Q"}, ""},
		{`A sign that says"AB"`, Spec{Family: Text, Text: "AB"}, `a sign that says "AB"`},
		{"a sign", Spec{Family: Text}, ""},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if !got.Equal(c.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", c.in, got, c.want)
		}
		out := c.out
		if out == "" {
			out = c.in
		}
		if s := got.String(); s != out {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, s, out)
		}
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct{ in, why string }{
		{"", "expected a shape"},
		{"two red circle", "plural"},
		{"a red circles", "singular"},
		{"red circle", "count of one"},
		{"five circles", `got "five"`},
		{"a purple circle", `got "purple"`},
		{"a red", "at the end"},
		{"a red circle left of two blue squares", "two single shapes"},
		{"a red circle above a blue square and a green circle", `unexpected "and"`},
		{"a red circle and a red circle", "overlapping"},
		{"a circle and two red circles", "overlapping"},
		{"two red circles and three blue squares", "at most 4"},
		{"a red circle and a blue circle and a green circle and a white circle", "1 to 3 clauses"},
		{"a red circle left a blue square", `unexpected "left"`},
		{`a sign that says "K0"`, "not in the alphabet"},
		{`a sign that says "ABCDE"`, "longer than 4"},
		{`a sign that says "AB`, "unterminated quote"},
		{`a sign that says "A B"`, "white space"},
		{`a sign that says ""`, "empty quoted text"},
		{`a sign says "AB"`, `expected "that"`},
		{`a sign that says "AB" please`, "unexpected"},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error about %s", c.in, c.why)
			continue
		}
		if !strings.Contains(err.Error(), c.why) {
			t.Errorf("Parse(%q) error %q does not mention %q", c.in, err, c.why)
		}
	}
}

// TestRoundTrip: every spec the generators draw prints to a prompt that parses back to it.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < 2000; i++ {
		s := RandomComposeSpec(rng)
		if i%3 == 0 {
			s = RandomTextSpec(rng)
		}
		if i%5 == 1 && s.Family == Compose {
			s.Clauses[0].Count = 0 // unnumbered plurals, as in captions
			if s.Validate() != nil {
				continue
			}
		}
		got, err := Parse(s.String())
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if !got.Equal(s) {
			t.Fatalf("Parse(%q) = %+v, want %+v", s, got, s)
		}
	}
}

// TestGeneratorFamilies: the generator covers every GenEval-like family, relations and counts.
func TestGeneratorFamilies(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	rel, counts, anyColor, clauses := map[Relation]int{}, map[int]int{}, 0, map[int]int{}
	for i := 0; i < 3000; i++ {
		s := RandomComposeSpec(rng)
		if err := s.Validate(); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		rel[s.Relation]++
		clauses[len(s.Clauses)]++
		for _, c := range s.Clauses {
			counts[c.Count]++
			if c.Color == AnyColor {
				anyColor++
			}
		}
	}
	for _, r := range Relations {
		if rel[r] < 50 {
			t.Errorf("relation %q drawn %d times in 3000", r, rel[r])
		}
	}
	for n := 1; n <= MaxCount; n++ {
		if counts[n] < 50 {
			t.Errorf("count %d drawn %d times", n, counts[n])
		}
	}
	for n := 1; n <= MaxClauses; n++ {
		if clauses[n] < 50 {
			t.Errorf("%d-clause scenes drawn %d times", n, clauses[n])
		}
	}
	if anyColor < 300 {
		t.Errorf("colourless clauses drawn %d times", anyColor)
	}
}
