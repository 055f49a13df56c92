package world

import "testing"

// Every family's own draws are named after it, except where the draw is structurally another
// family's prompt (a two_object draw naming both colours, a two-clause mixed draw of single
// shapes), which ComposeFamily names by structure.
func TestComposeFamilyNamesDraws(t *testing.T) {
	rng := &splitMix{state: 7}
	for _, f := range composeFamilies {
		hits := 0
		for i := 0; i < 400; i++ {
			s := f.draw(rng)
			if s.Validate() != nil {
				continue
			}
			got := s.ComposeFamily()
			switch {
			case got == f.name:
				hits++
			case f.name == "two_object" && got == "colour_attr":
			case f.name == "mixed" && got == "colour_attr":
			default:
				t.Fatalf("%s drew %q, named %q", f.name, s, got)
			}
		}
		if hits < 100 {
			t.Errorf("%s: only %d of 400 draws named after it", f.name, hits)
		}
	}
	if got := (Spec{Family: Text, Text: "AB"}).ComposeFamily(); got != "" {
		t.Errorf("a sign is named %q", got)
	}
	names := map[string]bool{}
	for _, n := range ComposeFamilies {
		names[n] = true
	}
	for _, f := range composeFamilies {
		if !names[f.name] {
			t.Errorf("family %s missing from ComposeFamilies", f.name)
		}
	}
}
