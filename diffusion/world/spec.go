package world

import (
	"fmt"
	"strings"
)

// Family says which of the world's prompt families a Spec belongs to.
type Family uint8

// The prompt families: Compose for GenEval-like scenes of shapes, Text for OCR-like signs.
const (
	Compose Family = iota
	Text
)

// Clause is one "count colour kind" noun phrase of a composition prompt.
type Clause struct {
	// Count is the number of shapes asked for, 1..MaxCount. Zero means the caption gave a plural
	// without a number ("red circles"): two or more.
	Count int
	// Color is the shapes' colour; AnyColor when the phrase names none ("two circles").
	Color Color
	Kind  Kind
}

// Spec is the structured meaning of a prompt.
type Spec struct {
	Family Family
	// Clauses are the noun phrases of a Compose prompt, in prompt order.
	Clauses []Clause
	// Relation, when set, relates Clauses[0] to Clauses[1] ("a red circle left of a blue
	// square"); it requires exactly two single-object clauses.
	Relation Relation
	// Text is the string on a Text prompt's sign ("" for the bare caption "a sign").
	Text string
}

// MaxClauses is the most noun phrases a composition prompt may join, and MaxTextLen the
// longest string a sign may say.
const (
	MaxClauses = 3
	MaxTextLen = 4
)

// String renders the clause as a noun phrase, e.g. "two red circles", "a square", "circles".
func (c Clause) String() string {
	var words []string
	if c.Count >= 1 && c.Count < len(countWords) {
		words = append(words, countWords[c.Count])
	} else if c.Count != 0 {
		words = append(words, fmt.Sprint(c.Count))
	}
	if c.Color != AnyColor {
		words = append(words, c.Color.String())
	}
	if c.Count == 1 {
		words = append(words, c.Kind.String())
	} else {
		words = append(words, c.Kind.Plural())
	}
	return strings.Join(words, " ")
}

// String renders the canonical prompt for s; Parse(s.String()) returns s again for every
// valid Spec.
func (s Spec) String() string {
	if s.Family == Text {
		if s.Text == "" {
			return "a sign"
		}
		return `a sign that says "` + s.Text + `"`
	}
	parts := make([]string, len(s.Clauses))
	for i, c := range s.Clauses {
		parts[i] = c.String()
	}
	if s.Relation != NoRelation && len(parts) == 2 {
		return parts[0] + " " + s.Relation.String() + " " + parts[1]
	}
	return strings.Join(parts, " and ")
}

// Objects is the number of shapes a Compose spec asks for, counting an unnumbered plural as two.
func (s Spec) Objects() int {
	n := 0
	for _, c := range s.Clauses {
		if c.Count == 0 {
			n += 2
		} else {
			n += c.Count
		}
	}
	return n
}

// Validate checks the rules the grammar cannot express: counts and sizes within limits, a
// relation only between two single objects, and clauses that never describe the same shapes
// twice (no repeated colour+kind, and a colourless clause's kind appears in no other clause),
// so that every clause has one unambiguous count.
func (s Spec) Validate() error {
	switch s.Family {
	case Text:
		if len(s.Clauses) != 0 || s.Relation != NoRelation {
			return fmt.Errorf("a text spec has no shape clauses or relation")
		}
		if len(s.Text) > MaxTextLen {
			return fmt.Errorf("sign text %q is longer than %d characters", s.Text, MaxTextLen)
		}
		for _, r := range s.Text {
			if !InAlphabet(r) {
				return fmt.Errorf("sign text %q has %q, which is not in the alphabet %s", s.Text, r, Alphabet)
			}
		}
		return nil
	case Compose:
	default:
		return fmt.Errorf("unknown family %d", s.Family)
	}
	if s.Text != "" {
		return fmt.Errorf("a composition spec has no sign text")
	}
	if len(s.Clauses) == 0 || len(s.Clauses) > MaxClauses {
		return fmt.Errorf("a composition has 1 to %d clauses, got %d", MaxClauses, len(s.Clauses))
	}
	for i, c := range s.Clauses {
		if c.Count < 0 || c.Count > MaxCount {
			return fmt.Errorf("clause %d: count %d is outside 1..%d", i+1, c.Count, MaxCount)
		}
		if int(c.Color) >= len(colorNames) || int(c.Kind) >= len(kindNames) {
			return fmt.Errorf("clause %d: unknown colour or kind", i+1)
		}
		for j := 0; j < i; j++ {
			d := s.Clauses[j]
			if d.Kind != c.Kind {
				continue
			}
			if d.Color == c.Color || d.Color == AnyColor || c.Color == AnyColor {
				return fmt.Errorf("clauses %q and %q describe overlapping shapes", d, c)
			}
		}
	}
	if n := s.Objects(); n > MaxObjects {
		return fmt.Errorf("%d shapes asked for, a scene holds at most %d", n, MaxObjects)
	}
	if s.Relation != NoRelation {
		if int(s.Relation) >= len(relationNames) {
			return fmt.Errorf("unknown relation %d", s.Relation)
		}
		if len(s.Clauses) != 2 || s.Clauses[0].Count != 1 || s.Clauses[1].Count != 1 {
			return fmt.Errorf("relation %q needs exactly two single shapes", s.Relation)
		}
	}
	return nil
}

// Equal reports whether two specs mean the same thing.
func (s Spec) Equal(t Spec) bool {
	if s.Family != t.Family || s.Relation != t.Relation || s.Text != t.Text || len(s.Clauses) != len(t.Clauses) {
		return false
	}
	for i := range s.Clauses {
		if s.Clauses[i] != t.Clauses[i] {
			return false
		}
	}
	return true
}
