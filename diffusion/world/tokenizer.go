package world

import (
	"fmt"
	"strings"
)

// Special token ids. Every encoding starts with BOS, so a caption always has at least one
// unmasked position; the empty caption (for classifier-free guidance) is BOS followed by the
// learnable EMPTY token.
const (
	PadID   int32 = 0
	BOSID   int32 = 1
	EmptyID int32 = 2
)

// DefaultMaxLen fits the longest prompt of the grammar (BOS + 11 words) with room to spare.
const DefaultMaxLen = 16

// Tokenizer maps prompts to fixed-length id sequences. The vocabulary is the grammar's: the
// special tokens, every word of the grammar, the quote mark, and one token per sign character
// (upper case, so the character "A" and the article "a" differ).
type Tokenizer struct {
	MaxLen int
	vocab  []string
	index  map[string]int32
}

// NewTokenizer builds the tokenizer with sequences of maxLen ids (DefaultMaxLen if maxLen ≤ 0).
func NewTokenizer(maxLen int) *Tokenizer {
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	v := []string{"<pad>", "<bos>", "<empty>"}
	v = append(v, countWords[1:]...)
	v = append(v, "one")
	for _, c := range Colors {
		v = append(v, c.String())
	}
	for _, k := range Kinds {
		v = append(v, k.String(), k.Plural())
	}
	v = append(v, "and", "left", "right", "of", "above", "below", "sign", "that", "says", `"`)
	for _, r := range Alphabet {
		v = append(v, string(r))
	}
	t := &Tokenizer{MaxLen: maxLen, vocab: v, index: map[string]int32{}}
	for i, w := range v {
		t.index[w] = int32(i)
	}
	return t
}

// VocabSize is the number of distinct ids.
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// Vocab returns the token strings in id order.
func (t *Tokenizer) Vocab() []string { return append([]string(nil), t.vocab...) }

// Encode turns a prompt into MaxLen ids: BOS, one id per word, quote mark or quoted
// character, then PadID. The empty (or all-blank) prompt encodes as BOS, EMPTY. Words not in
// the vocabulary are an error naming every one of them.
func (t *Tokenizer) Encode(text string) ([]int32, error) {
	toks, err := lex(text)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %q: %v", text, err)
	}
	ids := make([]int32, 1, t.MaxLen)
	ids[0] = BOSID
	if len(toks) == 0 {
		ids = append(ids, EmptyID)
	}
	var unknown []string
	for _, tk := range toks {
		id, ok := t.index[tk.text]
		if !ok || (tk.quoted != (len(tk.text) == 1 && InAlphabet(rune(tk.text[0])))) {
			unknown = append(unknown, tk.text)
			continue
		}
		ids = append(ids, id)
	}
	if len(unknown) > 0 {
		nWords := len(t.vocab) - len(Alphabet)
		return nil, fmt.Errorf("tokenizer: %q: unknown words %q; the vocabulary is the words %s, "+
			"and between quotes single characters of %s",
			text, unknown, strings.Join(t.vocab[3:nWords], " "), Alphabet)
	}
	if len(ids) > t.MaxLen {
		return nil, fmt.Errorf("tokenizer: %q needs %d tokens, more than the maximum %d", text, len(ids), t.MaxLen)
	}
	for len(ids) < t.MaxLen {
		ids = append(ids, PadID)
	}
	return ids, nil
}

// Mask returns 1 for every id that is not padding and 0 for padding.
func Mask(ids []int32) []float32 {
	m := make([]float32, len(ids))
	for i, id := range ids {
		if id != PadID {
			m[i] = 1
		}
	}
	return m
}

// EncodeBatch encodes prompts into one row-major (len(texts), MaxLen) id array and its mask.
func (t *Tokenizer) EncodeBatch(texts []string) (ids []int32, mask []float32, err error) {
	ids = make([]int32, 0, len(texts)*t.MaxLen)
	for _, s := range texts {
		row, err := t.Encode(s)
		if err != nil {
			return nil, nil, err
		}
		ids = append(ids, row...)
	}
	return ids, Mask(ids), nil
}

// Decode turns ids back into a prompt (quoted characters are joined without spaces; padding,
// BOS and EMPTY are dropped), so Decode(Encode(p)) is p's canonical spacing.
func (t *Tokenizer) Decode(ids []int32) string {
	var b strings.Builder
	inQuote := false
	for _, id := range ids {
		if id <= EmptyID || int(id) >= len(t.vocab) {
			continue
		}
		w := t.vocab[id]
		switch {
		case w == `"`:
			if !inQuote && b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
			inQuote = !inQuote
		case inQuote:
			b.WriteString(w)
		default:
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
	}
	return b.String()
}
