package world

import (
	"fmt"
	"image/color"
)

// Color is a palette colour. AnyColor (the zero value) means "not specified": a clause such as
// "a circle" may be drawn in any colour and matches shapes of every colour.
type Color uint8

// The palette. Every colour has a maximal channel of 255 and the chromaticities (colour divided
// by its brightest channel) sit on the corners of the unit cube, so a shape stays recognisable
// when it is dimmed, blurred into the black background or shifted by ±40 per channel.
const (
	AnyColor Color = iota
	Red
	Green
	Blue
	Yellow
	Magenta
	Cyan
	White
)

// Colors lists the concrete palette colours in a fixed order.
var Colors = []Color{Red, Green, Blue, Yellow, Magenta, Cyan, White}

var colorNames = [...]string{"", "red", "green", "blue", "yellow", "magenta", "cyan", "white"}

var colorRGB = [...]color.RGBA{
	{0, 0, 0, 255},
	{255, 0, 0, 255},
	{0, 255, 0, 255},
	{0, 0, 255, 255},
	{255, 255, 0, 255},
	{255, 0, 255, 255},
	{0, 255, 255, 255},
	{255, 255, 255, 255},
}

// String is the colour's prompt word ("" for AnyColor).
func (c Color) String() string {
	if int(c) < len(colorNames) {
		return colorNames[c]
	}
	return fmt.Sprintf("Color(%d)", uint8(c))
}

// RGBA is the colour drawn for c (black for AnyColor).
func (c Color) RGBA() color.RGBA {
	if int(c) < len(colorRGB) {
		return colorRGB[c]
	}
	return colorRGB[0]
}

// Kind is a shape kind.
type Kind uint8

// The shape kinds. Triangles always point up (apex at the top, base at the bottom).
const (
	Circle Kind = iota
	Square
	Triangle
)

// Kinds lists the shape kinds in a fixed order.
var Kinds = []Kind{Circle, Square, Triangle}

var kindNames = [...][2]string{{"circle", "circles"}, {"square", "squares"}, {"triangle", "triangles"}}

// String is the singular prompt word.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k][0]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Plural is the plural prompt word.
func (k Kind) Plural() string {
	if int(k) < len(kindNames) {
		return kindNames[k][1]
	}
	return k.String()
}

// Relation is a spatial relation between the first two clauses of a composition prompt.
type Relation uint8

// NoRelation means the clauses are only joined by "and".
const (
	NoRelation Relation = iota
	LeftOf
	RightOf
	Above
	Below
)

// Relations lists the spatial relations in a fixed order.
var Relations = []Relation{LeftOf, RightOf, Above, Below}

var relationNames = [...]string{"and", "left of", "right of", "above", "below"}

// String is the relation's prompt phrase ("and" for NoRelation).
func (r Relation) String() string {
	if int(r) < len(relationNames) {
		return relationNames[r]
	}
	return fmt.Sprintf("Relation(%d)", uint8(r))
}

// Axis returns the unit direction (dx, dy) in image coordinates (y grows downwards) from the
// first object to the second one that the relation asserts: "A left of B" puts B to the right
// of A, so LeftOf is (+1, 0).
func (r Relation) Axis() (dx, dy float64) {
	switch r {
	case LeftOf:
		return 1, 0
	case RightOf:
		return -1, 0
	case Above:
		return 0, 1
	case Below:
		return 0, -1
	}
	return 0, 0
}

var countWords = [...]string{"", "a", "two", "three", "four"}

// MaxCount is the largest count a clause may ask for, and MaxObjects the most shapes a scene
// holds (so that they fit side by side at 32×32 with clear gaps).
const (
	MaxCount   = 4
	MaxObjects = 4
)
