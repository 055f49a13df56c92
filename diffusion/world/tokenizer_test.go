package world

import (
	"slices"
	"strings"
	"testing"
)

func TestEncodeExample(t *testing.T) {
	tk := NewTokenizer(12)
	ids, err := tk.Encode(`a sign that says "K7Q"`)
	if err != nil {
		t.Fatal(err)
	}
	v := tk.Vocab()
	var words []string
	for _, id := range ids {
		words = append(words, v[id])
	}
	want := []string{"<bos>", "a", "sign", "that", "says", `"`, "K", "7", "Q", `"`, "<pad>", "<pad>"}
	if !slices.Equal(words, want) {
		t.Fatalf("Encode = %q, want %q", words, want)
	}
	wantMask := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}
	if m := Mask(ids); !slices.Equal(m, wantMask) {
		t.Fatalf("Mask = %v, want %v", m, wantMask)
	}
	// The article "a" and the character "A" are different tokens.
	ids2, err := tk.Encode(`A sign that says "A"`)
	if err != nil {
		t.Fatal(err)
	}
	if ids2[1] == ids2[6] || v[ids2[1]] != "a" || v[ids2[6]] != "A" {
		t.Fatalf("article and character share an id: %v", ids2)
	}
}

func TestEncodeEmpty(t *testing.T) {
	tk := NewTokenizer(0)
	for _, s := range []string{"", "   "} {
		ids, err := tk.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != DefaultMaxLen || ids[0] != BOSID || ids[1] != EmptyID || ids[2] != PadID {
			t.Fatalf("Encode(%q) = %v, want BOS EMPTY PAD…", s, ids)
		}
	}
}

func TestEncodeRejectsUnknownWords(t *testing.T) {
	tk := NewTokenizer(0)
	_, err := tk.Encode(`a purple circle and a red hexagon "kO"`)
	if err == nil {
		t.Fatal("unknown words accepted")
	}
	msg := err.Error()
	// Every unknown word is named: two words and two quoted characters not in the alphabet.
	for _, w := range []string{`"purple"`, `"hexagon"`, `"k"`, `"O"`, "vocabulary", "circles", Alphabet} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %s", msg, w)
		}
	}
	// Characters only count inside quotes, words only outside.
	for _, s := range []string{`a sign that says "a"`, "a sign that says K", `"red"`} {
		if _, err := tk.Encode(s); err == nil {
			t.Errorf("Encode(%q) accepted", s)
		}
	}
	if _, err := NewTokenizer(4).Encode("two red circles and a blue square"); err == nil || !strings.Contains(err.Error(), "maximum 4") {
		t.Errorf("over-long prompt: err = %v", err)
	}
}

// TestEncodeAllPrompts: every task prompt and pretraining caption encodes within the default
// length, and decodes back to itself.
func TestEncodeAllPrompts(t *testing.T) {
	w := testWorld(t, 32)
	tk := NewTokenizer(0)
	var prompts []string
	for _, task := range w.Tasks() {
		prompts = append(prompts, task.Train...)
		prompts = append(prompts, task.HeldOut...)
	}
	longest := composeSpec(Clause{2, Magenta, Triangle}, Clause{1, Yellow, Square}, Clause{1, Magenta, Circle})
	prompts = append(prompts, longest.String(), `a sign that says "WWWW"`)
	for _, p := range prompts {
		ids, err := tk.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := tk.Decode(ids); got != p {
			t.Fatalf("Decode(Encode(%q)) = %q", p, got)
		}
	}
	ids, mask, err := tk.EncodeBatch(prompts[:3])
	if err != nil || len(ids) != 3*DefaultMaxLen || len(mask) != len(ids) {
		t.Fatalf("EncodeBatch: %d ids, %d mask, %v", len(ids), len(mask), err)
	}
}
