package world

import (
	"slices"
	"testing"
	"unicode/utf8"
)

// FuzzTokenizer feeds arbitrary text to the tokenizer (and the prompt parser, which shares its
// lexer). Either is allowed to refuse text with an error, never to panic. What the tokenizer
// accepts is MaxLen ids of its vocabulary, starting with BOS, padded at the end only, and
// Decode gives text that encodes to the same ids.
//
//	go test -run '^$' -fuzz FuzzTokenizer -fuzztime 60s ./diffusion/world/
func FuzzTokenizer(f *testing.F) {
	for _, s := range []string{
		"", "   ", "a red circle", `a sign that says "K7Q"`, `A sign that says "A"`,
		"two blue squares left of a green triangle", `"`, `""`, `"a b"`, `"K"circle`,
		"three red circles and one yellow star above a sign", "a\tred\ncircle", "ÄÖÜ ß 日本", "a \xff circle",
		`a sign that says "` + "\u00a0" + `"`, "a purple hexagon",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(5))
	}
	f.Fuzz(func(t *testing.T, text string, maxLen uint8) {
		Parse(text) // errors are fine; a panic fails
		tk := NewTokenizer(int(maxLen))
		ids, err := tk.Encode(text)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("Encode(%q): empty error", text)
			}
			return
		}
		if len(ids) != tk.MaxLen || ids[0] != BOSID {
			t.Fatalf("Encode(%q) = %v: want %d ids starting with BOS", text, ids, tk.MaxLen)
		}
		padded := false
		for i, id := range ids {
			if id < 0 || int(id) >= tk.VocabSize() {
				t.Fatalf("Encode(%q): id %d out of the vocabulary at %d", text, id, i)
			}
			if id == PadID {
				padded = true
			} else if padded {
				t.Fatalf("Encode(%q) = %v: a token after padding", text, ids)
			}
		}
		back := tk.Decode(ids)
		if !utf8.ValidString(back) {
			t.Fatalf("Decode gives invalid UTF-8 %q", back)
		}
		again, err := tk.Encode(back)
		if err != nil || !slices.Equal(again, ids) {
			t.Fatalf("Encode(%q) = %v, Decode = %q, which encodes to %v (%v)", text, ids, back, again, err)
		}
	})
}
