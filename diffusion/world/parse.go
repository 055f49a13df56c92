package world

import (
	"fmt"
	"strings"
	"unicode"
)

// The prompt grammar (words are case-insensitive, quoted characters are not):
//
//	prompt   = compose | text .
//	compose  = clause relation clause | clause { "and" clause } .
//	clause   = [ count ] [ colour ] kind .           count omitted: plural kind, "two or more"
//	count    = "a" | "one" | "two" | "three" | "four" .
//	colour   = "red" | "green" | "blue" | "yellow" | "magenta" | "cyan" | "white" .
//	kind     = "circle" | "square" | "triangle"       after "a"/"one"
//	         | "circles" | "squares" | "triangles" .  otherwise
//	relation = "left" "of" | "right" "of" | "above" | "below" .
//	text     = "a" "sign" [ "that" "says" '"' char { char } '"' ] .   1..4 chars of Alphabet
//
// plus the limits of Spec.Validate (at most 3 clauses and 4 shapes, relations between two
// single shapes, no clause that overlaps another).

// lexeme is one token of a prompt: a lower-cased word, the quote mark, or one character
// between quotes.
type lexeme struct {
	text   string
	quoted bool // a character inside quotes
}

// lex splits a prompt into words, quote marks and quoted characters. Words are separated by
// white space and lower-cased; the characters between a pair of quotes are kept one by one and
// as written.
func lex(text string) ([]lexeme, error) {
	var out []lexeme
	var word strings.Builder
	flush := func() {
		if word.Len() > 0 {
			out = append(out, lexeme{text: strings.ToLower(word.String())})
			word.Reset()
		}
	}
	inQuote := false
	for _, r := range text {
		switch {
		case r == '"':
			flush()
			out = append(out, lexeme{text: `"`})
			inQuote = !inQuote
		case inQuote:
			if unicode.IsSpace(r) {
				return nil, fmt.Errorf("white space inside quoted text")
			}
			out = append(out, lexeme{text: string(r), quoted: true})
		case unicode.IsSpace(r):
			flush()
		default:
			word.WriteRune(r)
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote")
	}
	flush()
	return out, nil
}

// Parse reads a prompt of the grammar above into a Spec and validates it.
func Parse(text string) (Spec, error) {
	toks, err := lex(text)
	if err != nil {
		return Spec{}, fmt.Errorf("world: parse %q: %v", text, err)
	}
	p := parser{toks: toks}
	var s Spec
	if len(toks) >= 2 && toks[0].text == "a" && toks[1].text == "sign" {
		s, err = p.text()
	} else {
		s, err = p.compose()
	}
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected %q after a complete prompt", p.toks[p.pos].text)
	}
	if err == nil {
		err = s.Validate()
	}
	if err != nil {
		return Spec{}, fmt.Errorf("world: parse %q: %v", text, err)
	}
	return s, nil
}

type parser struct {
	toks []lexeme
	pos  int
}

// peek returns the next word, or "" at the end of input or on a quoted character.
func (p *parser) peek() string {
	if p.pos >= len(p.toks) || p.toks[p.pos].quoted {
		return ""
	}
	return p.toks[p.pos].text
}

func (p *parser) expect(word string) error {
	if got := p.peek(); got != word {
		if p.pos >= len(p.toks) {
			return fmt.Errorf("expected %q at the end", word)
		}
		return fmt.Errorf("expected %q, got %q", word, p.toks[p.pos].text)
	}
	p.pos++
	return nil
}

func (p *parser) text() (Spec, error) {
	s := Spec{Family: Text}
	p.pos = 2 // "a sign"
	if p.pos == len(p.toks) {
		return s, nil
	}
	for _, w := range []string{"that", "says", `"`} {
		if err := p.expect(w); err != nil {
			return s, err
		}
	}
	var b strings.Builder
	for p.pos < len(p.toks) && p.toks[p.pos].quoted {
		b.WriteString(p.toks[p.pos].text)
		p.pos++
	}
	if err := p.expect(`"`); err != nil {
		return s, err
	}
	if b.Len() == 0 {
		return s, fmt.Errorf("empty quoted text")
	}
	s.Text = b.String()
	return s, nil
}

func (p *parser) compose() (Spec, error) {
	s := Spec{Family: Compose}
	c, err := p.clause()
	if err != nil {
		return s, err
	}
	s.Clauses = append(s.Clauses, c)
	if r, ok := p.relation(); ok {
		s.Relation = r
		c, err := p.clause()
		if err != nil {
			return s, err
		}
		s.Clauses = append(s.Clauses, c)
		return s, nil
	}
	for p.peek() == "and" {
		p.pos++
		c, err := p.clause()
		if err != nil {
			return s, err
		}
		s.Clauses = append(s.Clauses, c)
	}
	return s, nil
}

// relation consumes a relation phrase if one comes next.
func (p *parser) relation() (Relation, bool) {
	switch p.peek() {
	case "above":
		p.pos++
		return Above, true
	case "below":
		p.pos++
		return Below, true
	case "left", "right":
		if p.pos+1 < len(p.toks) && p.toks[p.pos+1].text == "of" && !p.toks[p.pos+1].quoted {
			r := LeftOf
			if p.peek() == "right" {
				r = RightOf
			}
			p.pos += 2
			return r, true
		}
	}
	return NoRelation, false
}

func (p *parser) clause() (Clause, error) {
	var c Clause
	w := p.peek()
	countWord := ""
	for n := 1; n < len(countWords); n++ {
		if w == countWords[n] || (n == 1 && w == "one") {
			c.Count, countWord = n, w
			p.pos++
			break
		}
	}
	w = p.peek()
	for _, col := range Colors {
		if w == col.String() {
			c.Color = col
			p.pos++
			break
		}
	}
	w = p.peek()
	for _, k := range Kinds {
		if w != k.String() && w != k.Plural() {
			continue
		}
		plural := w == k.Plural()
		if plural != (c.Count != 1) {
			if plural {
				return c, fmt.Errorf("%q after %q needs the singular %q", w, countWord, k.String())
			}
			return c, fmt.Errorf("%q needs a count of one (\"a %s\") or the plural %q", w, w, k.Plural())
		}
		c.Kind = k
		p.pos++
		return c, nil
	}
	if p.pos >= len(p.toks) {
		return c, fmt.Errorf("expected a shape (circle, square, triangle) at the end")
	}
	return c, fmt.Errorf("expected a count, colour or shape, got %q", p.toks[p.pos].text)
}
