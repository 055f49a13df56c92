package nn

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// stBuild assembles a safetensors file from a header string and a data section, exactly as
// the format lays them out (no padding added).
func stBuild(header string, data []byte) []byte {
	out := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

// stF32Bytes is the little-endian encoding of float32 values.
func stF32Bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// stSameBits reports whether two host tensors are identical, NaN payloads included.
func stSameBits(t *testing.T, name string, got, want HostTensor) {
	t.Helper()
	if len(got.Shape) != len(want.Shape) {
		t.Fatalf("tensor %q: shape %v, want %v", name, got.Shape, want.Shape)
	}
	for i := range got.Shape {
		if got.Shape[i] != want.Shape[i] {
			t.Fatalf("tensor %q: shape %v, want %v", name, got.Shape, want.Shape)
		}
	}
	if len(got.Data) != len(want.Data) {
		t.Fatalf("tensor %q: %d values, want %d", name, len(got.Data), len(want.Data))
	}
	for i := range got.Data {
		if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
			t.Fatalf("tensor %q: element %d is %v (%#08x), want %v (%#08x)", name, i,
				got.Data[i], math.Float32bits(got.Data[i]), want.Data[i], math.Float32bits(want.Data[i]))
		}
	}
}

func stSampleTensors() map[string]HostTensor {
	nan := math.Float32frombits(0x7fc00123) // a NaN with a payload
	return map[string]HostTensor{
		"blocks.0.attn.to_q.weight": {Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, 1e-3, -0.0, 65504}},
		"blocks.0.attn.to_q.bias":   {Shape: []int{3}, Data: []float32{float32(math.Inf(1)), float32(math.Inf(-1)), nan}},
		"scale":                     {Shape: []int{}, Data: []float32{0.125}},
		"empty":                     {Shape: []int{0, 4}, Data: []float32{}},
		"tiny":                      {Shape: []int{1, 1, 2}, Data: []float32{math.SmallestNonzeroFloat32, math.MaxFloat32}},
		"ünïcode \"quoted\" <&>":    {Shape: []int{1}, Data: []float32{7}},
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	want := stSampleTensors()
	meta := map[string]string{"format": "pt", "step": "1200", "note": "línea\n\"two\""}
	if err := WriteSafetensors(path, want, meta); err != nil {
		t.Fatal(err)
	}
	got, gotMeta, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d tensors, wrote %d", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Fatalf("tensor %q missing after the round trip", name)
		}
		stSameBits(t, name, g, w)
	}
	if len(gotMeta) != len(meta) {
		t.Fatalf("metadata %v, want %v", gotMeta, meta)
	}
	for k, v := range meta {
		if gotMeta[k] != v {
			t.Fatalf("metadata[%q] = %q, want %q", k, gotMeta[k], v)
		}
	}

	// Layout: the data section starts 8-byte aligned, tensors are stored in sorted name order,
	// and writing the same content again gives the same bytes.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw)
	if (8+n)%8 != 0 {
		t.Fatalf("data section starts at %d, not 8-byte aligned", 8+n)
	}
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var prevEnd int64
	for _, name := range f.Names() {
		in, _ := f.Info(name)
		if in.Begin != prevEnd {
			t.Fatalf("tensor %q starts at %d, want %d (sorted-name layout)", name, in.Begin, prevEnd)
		}
		prevEnd = in.End
	}
	path2 := filepath.Join(dir, "again.safetensors")
	if err := WriteSafetensors(path2, stSampleTensors(), meta); err != nil {
		t.Fatal(err)
	}
	raw2, _ := os.ReadFile(path2)
	if !bytes.Equal(raw, raw2) {
		t.Fatal("writing the same tensors twice gave different bytes")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("directory holds %d entries after two writes, want 2 (temp files left?)", len(entries))
	}
}

func TestSafetensorsBF16(t *testing.T) {
	one := float32(1)
	ulp := float32(1.0 / 128) // bf16 spacing at 1
	cases := []struct{ in, want float32 }{
		{one, one},
		{one + ulp/2, one},                // tie → even (1.0)
		{one + 3*ulp/2, one + 2*ulp},      // tie → even (1 + 2ulp)
		{one + ulp/2 + ulp/64, one + ulp}, // just above the tie rounds up
		{-3.140625, -3.140625},            // exactly representable
		{3.4e38, float32(math.Inf(1))},    // past the midpoint above the largest bf16 → +Inf
		{float32(math.Inf(-1)), float32(math.Inf(-1))},
		{1e-40, math.Float32frombits(0x00010000)}, // subnormals round like everything else
	}
	for _, c := range cases {
		if got := BF16ToFloat32(Float32ToBF16(c.in)); got != c.want {
			t.Errorf("bf16(%g) = %g, want %g", c.in, got, c.want)
		}
	}
	if got := BF16ToFloat32(Float32ToBF16(float32(math.NaN()))); !math.IsNaN(float64(got)) {
		t.Errorf("bf16(NaN) = %g, want NaN", got)
	}
	// A NaN whose payload sits only in the low half must not become Inf.
	if got := BF16ToFloat32(Float32ToBF16(math.Float32frombits(0x7f800001))); !math.IsNaN(float64(got)) {
		t.Errorf("bf16(signalling NaN) = %g, want NaN", got)
	}

	path := filepath.Join(t.TempDir(), "w.safetensors")
	in := map[string]HostTensor{"w": {Shape: []int{2, 2}, Data: []float32{1, one + 3*ulp/2, -2.5, 1e-3}}}
	if err := WriteSafetensorsAs(path, in, nil, SafetensorsBF16); err != nil {
		t.Fatal(err)
	}
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if info, _ := f.Info("w"); info.DType != "BF16" || info.End-info.Begin != 8 {
		t.Fatalf("stored as %s with %d bytes, want BF16 with 8", info.DType, info.End-info.Begin)
	}
	got, err := f.Read("w")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range in["w"].Data {
		if want := BF16ToFloat32(Float32ToBF16(v)); got.Data[i] != want {
			t.Fatalf("element %d: %g, want %g", i, got.Data[i], want)
		}
	}
}

// TestF16ToFloat32 checks every half-precision bit pattern against an independent decoding
// in float64 arithmetic.
func TestF16ToFloat32(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		sign := 1.0
		if h>>15 == 1 {
			sign = -1
		}
		exp, mant := (h>>10)&0x1f, h&0x3ff
		var want float64
		switch {
		case exp == 0x1f && mant == 0:
			want = math.Inf(int(sign))
		case exp == 0x1f:
			want = math.NaN()
		case exp == 0:
			want = sign * math.Ldexp(float64(mant), -24)
		default:
			want = sign * math.Ldexp(1+float64(mant)/1024, exp-15)
		}
		got := float64(F16ToFloat32(uint16(h)))
		if math.IsNaN(want) {
			if !math.IsNaN(got) {
				t.Fatalf("half %#04x: got %g, want NaN", h, got)
			}
			continue
		}
		if got != want || math.Signbit(got) != math.Signbit(want) {
			t.Fatalf("half %#04x: got %g, want %g", h, got, want)
		}
	}
}

// stInteropFile is a file built byte by byte from the format description, shaped like what
// Python's safetensors library writes (metadata first, space padding to 8 bytes), with F32,
// BF16, F16 and F64 tensors. Python's library was not available here to write one.
func stInteropFile() []byte {
	header := `{"__metadata__":{"format":"pt","source":"hand-built"},` +
		`"a.f32":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},` +
		`"b.bf16":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},` +
		`"c.f16":{"dtype":"F16","shape":[1,2],"data_offsets":[22,26]},` +
		`"d.f64":{"dtype":"F64","shape":[],"data_offsets":[26,34]}}`
	for (8+len(header))%8 != 0 {
		header += " "
	}
	data := []byte{
		// a.f32: 1.0, -2.0, 0.5, 3.0
		0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x40, 0x40,
		// b.bf16: 1.0 (0x3f80), -1.5 (0xbfc0), 3.140625 (0x4049)
		0x80, 0x3f, 0xc0, 0xbf, 0x49, 0x40,
		// c.f16: 1.0 (0x3c00), -0.33325195 (0xb555)
		0x00, 0x3c, 0x55, 0xb5,
		// d.f64: 0.1 (0x3fb999999999999a)
		0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f,
	}
	return stBuild(header, data)
}

func TestSafetensorsInterop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "interop.safetensors")
	if err := os.WriteFile(path, stInteropFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, meta, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]HostTensor{
		"a.f32":  {Shape: []int{2, 2}, Data: []float32{1, -2, 0.5, 3}},
		"b.bf16": {Shape: []int{3}, Data: []float32{1, -1.5, 3.140625}},
		"c.f16":  {Shape: []int{1, 2}, Data: []float32{1, -0.33325195}},
		"d.f64":  {Shape: []int{}, Data: []float32{0.1}},
	}
	if len(got) != len(want) {
		t.Fatalf("read %d tensors, want %d", len(got), len(want))
	}
	for name, w := range want {
		stSameBits(t, name, got[name], w)
	}
	if meta["format"] != "pt" || meta["source"] != "hand-built" || len(meta) != 2 {
		t.Fatalf("metadata %v", meta)
	}
}

// stBadCase is a malformed file and the words its error must contain besides the file name.
type stBadCase struct {
	name   string
	data   []byte
	tensor string // tensor the error must name ("" when none applies)
	want   string // fragment of the message
}

func stBadCases() []stBadCase {
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	ent := func(name, dtype, shape string, b, e int) string {
		return `"` + name + `":{"dtype":"` + dtype + `","shape":` + shape + `,"data_offsets":[` +
			strconv.Itoa(b) + "," + strconv.Itoa(e) + "]}"
	}
	valid := stBuild("{"+ent("w", "F32", "[2,2]", 0, 16)+","+ent("x", "F32", "[3]", 16, 28)+"}", f32(7))
	hugeLen := make([]byte, 64)
	binary.LittleEndian.PutUint64(hugeLen, 200_000_000)
	pastEnd := make([]byte, 64)
	binary.LittleEndian.PutUint64(pastEnd, 1000)
	return []stBadCase{
		{"short", []byte{1, 2, 3, 4, 5}, "", "shorter than the 8-byte"},
		{"header-past-end", pastEnd, "", "runs past the end of the file"},
		{"header-absurd", hugeLen, "", "exceeds the 100000000-byte limit"},
		{"invalid-json", stBuild(`{"w":{"dtype":"F32",`, nil), "", "not valid JSON"},
		{"not-object", stBuild(`[1,2]`, nil), "", "must be a JSON object"},
		{"trailing-junk", stBuild("{"+ent("w", "F32", "[1]", 0, 4)+"}x", f32(1)), "", "after the header object"},
		{"bad-utf8", stBuild("{\"w\xff\":{}}", nil), "", "UTF-8"},
		{"unknown-dtype", stBuild("{"+ent("w", "F33", "[2]", 0, 8)+"}", f32(2)), "w", `unknown dtype "F33"`},
		{"negative-shape", stBuild("{"+ent("w", "F32", "[-1,4]", 0, 16)+"}", f32(4)), "w", "negative dimension"},
		{"overflow-shape", stBuild("{"+ent("w", "F32", "[4294967296,4294967296]", 0, 16)+"}", f32(4)), "w", "overflows"},
		{"fraction-shape", stBuild("{"+ent("w", "F32", "[2.5]", 0, 8)+"}", f32(2)), "w", `field "shape"`},
		{"null-shape", stBuild("{"+ent("w", "F32", "null", 0, 4)+"}", f32(1)), "w", `"shape" is null`},
		{"size-mismatch", stBuild("{"+ent("w", "F32", "[2,2]", 0, 12)+"}", f32(3)), "w", "span 12 bytes, expected 16"},
		{"offsets-reversed", stBuild("{"+ent("w", "F32", "[0]", 8, 4)+"}", f32(2)), "w", "0 <= begin <= end"},
		{"offsets-three", stBuild(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, f32(1)), "w", "[begin, end]"},
		{"missing-offsets", stBuild(`{"w":{"dtype":"F32","shape":[1]}}`, f32(1)), "w", `missing field "data_offsets"`},
		{"entry-not-object", stBuild(`{"w":[1,2]}`, nil), "w", "entry must be an object"},
		{"out-of-bounds", stBuild("{"+ent("w", "F32", "[2,2]", 0, 16)+","+ent("x", "F32", "[3]", 16, 28)+"}", f32(5)), "x", "run past the data section"},
		{"truncated", valid[:len(valid)-3], "x", "run past the data section"},
		{"overlap", stBuild("{"+ent("w", "F32", "[4]", 0, 16)+","+ent("x", "F32", "[4]", 8, 24)+"}", f32(6)), "x", `overlap tensor "w"`},
		{"gap", stBuild("{"+ent("w", "F32", "[4]", 0, 16)+","+ent("x", "F32", "[4]", 20, 36)+"}", f32(9)), "x", `gap of 4 bytes after tensor "w"`},
		{"gap-at-start", stBuild("{"+ent("w", "F32", "[4]", 4, 20)+"}", f32(5)), "w", "at the start"},
		{"trailing-bytes", append(bytes.Clone(valid), 0, 0, 0, 0), "x", "4 unexplained trailing bytes"},
		{"duplicate", stBuild("{"+ent("w", "F32", "[1]", 0, 4)+","+ent("w", "F32", "[1]", 4, 8)+"}", f32(2)), "w", "appears twice"},
		{"bad-metadata", stBuild(`{"__metadata__":{"step":12},`+ent("w", "F32", "[1]", 0, 4)+"}", f32(1)), "", "__metadata__ must be an object of string"},
		{"unreadable-dtype", stBuild("{"+ent("w", "F32", "[1]", 0, 4)+","+ent("ids", "I64", "[2]", 4, 20)+"}", f32(5)), "ids", "dtype I64 cannot be read"},
	}
}

func TestSafetensorsBadFiles(t *testing.T) {
	dir := t.TempDir()
	for _, c := range stBadCases() {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad-"+c.name+".safetensors")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			ts, meta, err := ReadSafetensors(path)
			if err == nil {
				t.Fatalf("accepted a bad file: %d tensors", len(ts))
			}
			if ts != nil || meta != nil {
				t.Fatalf("returned a partial result with the error %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error does not name the file: %s", msg)
			}
			if c.tensor != "" && !strings.Contains(msg, `tensor "`+c.tensor+`"`) {
				t.Errorf("error does not name tensor %q: %s", c.tensor, msg)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("error lacks %q: %s", c.want, msg)
			}
			t.Log(msg)
		})
	}
}

func TestSafetensorsMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.safetensors")
	if _, _, err := ReadSafetensors(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("want an error naming %s, got %v", path, err)
	}
}

func TestWriteSafetensorsRejects(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keep.safetensors")
	orig := map[string]HostTensor{"w": {Shape: []int{2}, Data: []float32{1, 2}}}
	if err := WriteSafetensors(path, orig, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	bad := []struct {
		name    string
		tensors map[string]HostTensor
		meta    map[string]string
		dtype   string
		want    string
	}{
		{"shape-mismatch", map[string]HostTensor{"w": {Shape: []int{2, 2}, Data: []float32{1, 2, 3}}}, nil, "F32", `tensor "w": shape [2 2] needs 4 values, have 3`},
		{"negative", map[string]HostTensor{"w": {Shape: []int{-2}, Data: nil}}, nil, "F32", "negative"},
		{"reserved", map[string]HostTensor{"__metadata__": {Shape: []int{1}, Data: []float32{1}}}, nil, "F32", "reserved"},
		{"dtype", orig, nil, "F16", `cannot write dtype "F16"`},
		{"utf8-name", map[string]HostTensor{"w\xff": {Shape: []int{1}, Data: []float32{1}}}, nil, "F32", "UTF-8"},
		{"utf8-meta", orig, map[string]string{"k": "\xfe"}, "F32", "UTF-8"},
	}
	for _, c := range bad {
		err := WriteSafetensorsAs(path, c.tensors, c.meta, c.dtype)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: want an error naming %s with %q, got %v", c.name, path, c.want, err)
		}
	}
	// The target path is a directory: the rename fails after the temp file was written.
	sub := filepath.Join(dir, "adir")
	if err := os.MkdirAll(filepath.Join(sub, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensors(sub, orig, nil); err == nil {
		t.Error("writing over a directory succeeded")
	}
	// A missing directory.
	if err := WriteSafetensors(filepath.Join(dir, "no", "such", "dir.safetensors"), orig, nil); err == nil {
		t.Error("writing into a missing directory succeeded")
	}

	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a failed write changed the existing file")
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Fatalf("directory holds %v after failed writes; want only keep.safetensors and adir", names)
	}
}

// TestSafetensorsNumpyWritten reads testdata/numpy_written.safetensors, written once by a
// NumPy script (json + struct + ndarray.tobytes, following the format description; F16 rounded
// by NumPy's own float16 cast). The expected values are what NumPy printed for the same data.
func TestSafetensorsNumpyWritten(t *testing.T) {
	got, meta, err := ReadSafetensors(filepath.Join("testdata", "numpy_written.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{0.1, 1.0 / 3, -7, 1e-3} // the float32 values NumPy rounded to BF16
	bf := make([]float32, len(x))
	for i, v := range x {
		bf[i] = BF16ToFloat32(Float32ToBF16(v)) // our writer's rounding must agree with NumPy's
	}
	want := map[string]HostTensor{
		"a":  {Shape: []int{2, 3}, Data: []float32{-1, -0.5, 0, 0.5, 1, 1.5}},
		"h":  {Shape: []int{4}, Data: []float32{0.0999755859375, -2.5, 65504, 5.960464477539063e-08}},
		"bf": {Shape: []int{2, 2}, Data: []float32{0.10009765625, 0.333984375, -7, 0.00099945068359375}},
		"d":  {Shape: []int{2}, Data: []float32{math.Float32frombits(0x40490fdb), math.Float32frombits(0xb727c5ac)}},
	}
	if len(got) != len(want) {
		t.Fatalf("read %d tensors, want %d", len(got), len(want))
	}
	for name, w := range want {
		stSameBits(t, name, got[name], w)
	}
	stSameBits(t, "bf (our rounding)", HostTensor{Shape: []int{2, 2}, Data: bf}, want["bf"])
	if meta["writer"] != "numpy" {
		t.Fatalf("metadata %v", meta)
	}
}
