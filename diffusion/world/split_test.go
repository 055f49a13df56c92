package world

import (
	"slices"
	"testing"
)

func testWorld(t testing.TB, size int) *World {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Size = size
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestSplitShape(t *testing.T) {
	s := NewSplit(11)
	kinds, colors := map[Kind]int{}, map[Color]int{}
	for _, c := range Colors {
		for _, k := range Kinds {
			if s.HeldPair(c, k) {
				kinds[k]++
				colors[c]++
			}
		}
	}
	if len(kinds) != 3 || len(colors) != 3 {
		t.Fatalf("held-out pairs: kinds %v colours %v, want one per kind with distinct colours", kinds, colors)
	}
	held := 0
	for _, a := range Colors {
		for _, b := range Colors {
			if s.HeldRelation(a, LeftOf, b) != s.HeldRelation(b, RightOf, a) ||
				s.HeldRelation(a, Above, b) != s.HeldRelation(b, Below, a) {
				t.Fatalf("%s/%s: a relation and its mirror image are split differently", a, b)
			}
			if s.HeldRelation(a, LeftOf, b) {
				held++
			}
			if s.HeldRelation(a, Above, b) {
				held++
			}
		}
	}
	if held != heldLayouts {
		t.Fatalf("%d held-out layouts, want %d", held, heldLayouts)
	}
	if s.HeldText("A") || s.HeldText("") {
		t.Fatal("single characters must stay in training")
	}
}

// TestPromptSplits: held-out prompts never appear in training, each touches a held-out
// combination, no training prompt does, lists have no duplicates, and everything is a
// deterministic function of the seed.
func TestPromptSplits(t *testing.T) {
	w := testWorld(t, 32)
	for _, task := range w.Tasks() {
		if len(task.Train) != 512 || len(task.HeldOut) != 128 {
			t.Fatalf("%s: %d/%d prompts", task.Name, len(task.Train), len(task.HeldOut))
		}
		train := map[string]bool{}
		for _, p := range task.Train {
			if train[p] {
				t.Fatalf("%s: duplicate training prompt %q", task.Name, p)
			}
			train[p] = true
			s, err := Parse(p)
			if err != nil {
				t.Fatal(err)
			}
			if w.Split().HeldOut(s) {
				t.Fatalf("%s: training prompt %q touches the held-out split", task.Name, p)
			}
		}
		for _, p := range task.HeldOut {
			if train[p] {
				t.Fatalf("%s: held-out prompt %q is also a training prompt", task.Name, p)
			}
			s, err := Parse(p)
			if err != nil {
				t.Fatal(err)
			}
			if !w.Split().HeldOut(s) {
				t.Fatalf("%s: held-out prompt %q has no held-out combination", task.Name, p)
			}
		}
	}
	again := testWorld(t, 32)
	other := DefaultConfig()
	other.Seed = 2
	w2, err := New(other)
	if err != nil {
		t.Fatal(err)
	}
	for i, task := range w.Tasks() {
		if !slices.Equal(task.Train, again.Tasks()[i].Train) || !slices.Equal(task.HeldOut, again.Tasks()[i].HeldOut) {
			t.Fatalf("%s: prompt lists differ between two worlds with the same seed", task.Name)
		}
		if slices.Equal(task.HeldOut, w2.Tasks()[i].HeldOut) {
			t.Fatalf("%s: prompt lists equal for different seeds", task.Name)
		}
	}
	if _, err := w.Task("ocr"); err == nil {
		t.Fatal("unknown task accepted")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.Size = 16 },
		func(c *Config) { c.TextFraction = 1.5 },
		func(c *Config) { c.Captions.DropCount = -0.1 },
		func(c *Config) { c.TrainPrompts = -1 },
	} {
		c := DefaultConfig()
		c.TrainPrompts, c.HeldOutPrompts = 8, 8
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}
