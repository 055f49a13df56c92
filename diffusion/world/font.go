package world

import "strings"

// Alphabet is the set of characters a sign may say: A–Z and 0–9 without the look-alike pairs
// O/0 and I/1, 32 characters in all.
const Alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// InAlphabet reports whether r may appear on a sign.
func InAlphabet(r rune) bool { return strings.ContainsRune(Alphabet, r) }

// GlyphW and GlyphH are the size of a glyph cell in font pixels; glyphs are set one font
// pixel apart.
const (
	GlyphW = 5
	GlyphH = 7
)

// font is a 5×7 bitmap font drawn for this package: '#' is ink. It covers the sign alphabet,
// the look-alikes left out of it, and the punctuation captions use (for cmd/worldgrid).
var font = map[rune][GlyphH]string{
	'A': {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'B': {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."},
	'C': {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."},
	'D': {"####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."},
	'E': {"#####", "#....", "#....", "####.", "#....", "#....", "#####"},
	'F': {"#####", "#....", "#....", "####.", "#....", "#....", "#...."},
	'G': {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"},
	'H': {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'I': {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'J': {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."},
	'K': {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"},
	'L': {"#....", "#....", "#....", "#....", "#....", "#....", "#####"},
	'M': {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"},
	'N': {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"},
	'O': {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'P': {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."},
	'Q': {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"},
	'R': {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"},
	'S': {".####", "#....", "#....", ".###.", "....#", "....#", "####."},
	'T': {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},
	'U': {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'V': {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."},
	'W': {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."},
	'X': {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"},
	'Y': {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."},
	'Z': {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"},
	'0': {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."},
	'1': {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'2': {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"},
	'3': {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."},
	'4': {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."},
	'5': {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."},
	'6': {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."},
	'7': {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."},
	'8': {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."},
	'9': {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."},
	' ': {".....", ".....", ".....", ".....", ".....", ".....", "....."},
	'"': {".#.#.", ".#.#.", ".....", ".....", ".....", ".....", "....."},
	'.': {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."},
	',': {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."},
	'-': {".....", ".....", ".....", "#####", ".....", ".....", "....."},
	'?': {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."},
}

// Glyph returns the bitmap of r as GlyphH rows of GlyphW booleans (true = ink). Lower-case
// letters use the upper-case glyphs; characters the font lacks come back as '?'.
func Glyph(r rune) [GlyphH][GlyphW]bool {
	rows, ok := font[r]
	if !ok {
		rows, ok = font[[]rune(strings.ToUpper(string(r)))[0]]
	}
	if !ok {
		rows = font['?']
	}
	var g [GlyphH][GlyphW]bool
	for y, row := range rows {
		for x := 0; x < GlyphW; x++ {
			g[y][x] = row[x] == '#'
		}
	}
	return g
}

// TextLayout is where the renderer puts an n-character sign on a size×size image: glyphs
// scaled by an integer factor (each font pixel becomes scale×scale image pixels), advancing
// (GlyphW+1)·scale per character, the whole line centred. The scale is the largest that keeps
// a margin of max(2, size/16) pixels on every side. OCR uses the same layout to read signs.
func TextLayout(size, n int) (scale, x0, y0 int) {
	if n <= 0 {
		return 0, size / 2, size / 2
	}
	margin := max(2, size/16)
	room := size - 2*margin
	scale = max(1, min(room/((GlyphW+1)*n-1), room/GlyphH))
	w := ((GlyphW+1)*n - 1) * scale
	return scale, (size - w) / 2, (size - GlyphH*scale) / 2
}
