package nn

// Reading the safetensors format (the layout Hugging Face models and our checkpoints use):
//
//	[8 bytes]  N, little-endian uint64: length of the JSON header
//	[N bytes]  JSON object {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
//	           "__metadata__": {"key": "value"}}, possibly padded with spaces
//	[rest]     the data section: every tensor's raw little-endian bytes, at [b, e) relative to
//	           the start of the data section
//
// The reader trusts nothing in a file. The header is parsed and the whole layout validated
// (dtypes, shapes, sizes, bounds, no overlaps, no gaps, no trailing bytes) before any tensor
// data is read, and every error names the file, the tensor where one applies, and what was
// expected against what was found.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"unicode/utf8"
)

// HostTensor is a float32 array in host memory with its shape (row-major, contiguous).
type HostTensor struct {
	Shape []int
	Data  []float32
}

// Safetensors dtype names we can convert to float32 (F32 and BF16 can also be written).
const (
	SafetensorsF32  = "F32"
	SafetensorsBF16 = "BF16"
	SafetensorsF16  = "F16"
	SafetensorsF64  = "F64"
)

// safetensorsDTypeSize gives the element size of every dtype the format defines, so that the
// layout of any well-formed file validates even where we cannot convert a tensor's dtype.
var safetensorsDTypeSize = map[string]int64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// safetensorsReadable reports whether a dtype converts to float32 on read.
func safetensorsReadable(dtype string) bool {
	switch dtype {
	case SafetensorsF32, SafetensorsBF16, SafetensorsF16, SafetensorsF64:
		return true
	}
	return false
}

// maxSafetensorsHeader bounds the JSON header (the reference implementation uses the same
// limit); anything larger is a corrupt length field, not a real header.
const maxSafetensorsHeader = 100_000_000

// SafetensorsInfo describes one tensor of a file as its header declares it.
type SafetensorsInfo struct {
	Name       string
	DType      string
	Shape      []int
	Begin, End int64 // byte range within the data section
}

// SafetensorsFile is an open safetensors file whose header has been fully validated. Tensors
// are read on demand, so a caller can load a subset of a large model file.
type SafetensorsFile struct {
	path    string
	r       io.ReaderAt
	closer  io.Closer
	dataOff int64 // file offset of the data section: 8 + header length
	infos   map[string]SafetensorsInfo
	names   []string // sorted
	meta    map[string]string
	sums    map[string]uint32 // CRC-32C per tensor (MetaChecksums), nil when the file has none
}

// OpenSafetensors opens path and validates its header and layout. Close the file when done.
func OpenSafetensors(path string) (*SafetensorsFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("safetensors %s: not a regular file", path)
	}
	sf, err := parseSafetensors(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	sf.closer = f
	return sf, nil
}

// OpenSafetensorsBytes is OpenSafetensors on an in-memory file (an embedded checkpoint); name
// labels errors. Close is a no-op.
func OpenSafetensorsBytes(name string, data []byte) (*SafetensorsFile, error) {
	return parseSafetensors(name, bytes.NewReader(data), int64(len(data)))
}

// ReadSafetensors reads every tensor of a file, converted to float32, and its metadata. It
// returns either everything or an error, never a partial map.
func ReadSafetensors(path string) (map[string]HostTensor, map[string]string, error) {
	f, err := OpenSafetensors(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	ts, err := f.ReadAll()
	if err != nil {
		return nil, nil, err
	}
	return ts, f.Metadata(), nil
}

// DecodeSafetensors is ReadSafetensors on an in-memory file; name labels errors.
func DecodeSafetensors(name string, data []byte) (map[string]HostTensor, map[string]string, error) {
	f, err := parseSafetensors(name, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, nil, err
	}
	ts, err := f.ReadAll()
	if err != nil {
		return nil, nil, err
	}
	return ts, f.Metadata(), nil
}

// Close releases the underlying file.
func (f *SafetensorsFile) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// Path returns the name the file was opened with.
func (f *SafetensorsFile) Path() string { return f.path }

// Names returns the tensor names in sorted order.
func (f *SafetensorsFile) Names() []string { return slices.Clone(f.names) }

// Info returns what the header declares about one tensor.
func (f *SafetensorsFile) Info(name string) (SafetensorsInfo, bool) {
	in, ok := f.infos[name]
	if ok {
		in.Shape = slices.Clone(in.Shape)
	}
	return in, ok
}

// Metadata returns a copy of the header's __metadata__ map (nil when there is none).
func (f *SafetensorsFile) Metadata() map[string]string {
	if f.meta == nil {
		return nil
	}
	m := make(map[string]string, len(f.meta))
	for k, v := range f.meta {
		m[k] = v
	}
	return m
}

// ReadAll reads every tensor; it fails without a partial result when any tensor has a dtype
// that does not convert to float32 or cannot be read.
func (f *SafetensorsFile) ReadAll() (map[string]HostTensor, error) {
	for _, name := range f.names {
		if in := f.infos[name]; !safetensorsReadable(in.DType) {
			return nil, f.errorf(name, "dtype %s cannot be read as float32 (supported: F32, BF16, F16, F64)", in.DType)
		}
	}
	out := make(map[string]HostTensor, len(f.names))
	for _, name := range f.names {
		t, err := f.Read(name)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// Read reads one tensor and converts it to float32.
func (f *SafetensorsFile) Read(name string) (HostTensor, error) {
	in, ok := f.infos[name]
	if !ok {
		return HostTensor{}, f.errorf(name, "no such tensor in the file")
	}
	if !safetensorsReadable(in.DType) {
		return HostTensor{}, f.errorf(name, "dtype %s cannot be read as float32 (supported: F32, BF16, F16, F64)", in.DType)
	}
	esize := safetensorsDTypeSize[in.DType]
	n := (in.End - in.Begin) / esize
	data := make([]float32, n)

	// Convert in bounded chunks so a multi-gigabyte tensor does not need a second full-size
	// byte buffer.
	const chunkElems = 1 << 18
	buf := make([]byte, min(n, chunkElems)*esize)
	crc := uint32(0)
	for done := int64(0); done < n; {
		k := min(n-done, chunkElems)
		b := buf[:k*esize]
		off := f.dataOff + in.Begin + done*esize
		if got, err := f.r.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && int64(got) == int64(len(b))) {
			return HostTensor{}, f.errorf(name, "reading %d bytes at file offset %d: read %d: %v", len(b), off, got, err)
		}
		decodeSafetensorsData(data[done:done+k], b, in.DType)
		crc = crc32.Update(crc, crcTable, b)
		done += k
	}
	if want, ok := f.sums[name]; ok && crc != want {
		return HostTensor{}, f.errorf(name, "checksum mismatch (stored %08x, data %08x): the file is damaged", want, crc)
	}
	return HostTensor{Shape: slices.Clone(in.Shape), Data: data}, nil
}

func (f *SafetensorsFile) errorf(tensor, format string, args ...any) error {
	return safetensorsErrorf(f.path, tensor, format, args...)
}

// safetensorsErrorf formats "safetensors <path>: tensor "<name>": <message>" (no tensor part
// when tensor is empty).
func safetensorsErrorf(path, tensor, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if tensor != "" {
		return fmt.Errorf("safetensors %s: tensor %q: %s", path, tensor, msg)
	}
	return fmt.Errorf("safetensors %s: %s", path, msg)
}

// parseSafetensors reads and validates the header of a file of the given size.
func parseSafetensors(path string, r io.ReaderAt, size int64) (*SafetensorsFile, error) {
	fail := func(tensor, format string, args ...any) (*SafetensorsFile, error) {
		return nil, safetensorsErrorf(path, tensor, format, args...)
	}
	if size < 8 {
		return fail("", "file is %d bytes, shorter than the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return fail("", "reading the header length: %v", err)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen > maxSafetensorsHeader {
		return fail("", "header length %d exceeds the %d-byte limit (corrupt length field?)", hlen, maxSafetensorsHeader)
	}
	if int64(hlen) > size-8 {
		return fail("", "header length %d runs past the end of the file (%d bytes after the length field)", hlen, size-8)
	}
	header := make([]byte, hlen)
	if _, err := r.ReadAt(header, 8); err != nil {
		return fail("", "reading the %d-byte header: %v", hlen, err)
	}
	dataLen := size - 8 - int64(hlen)

	infos, meta, err := parseSafetensorsHeader(path, header)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(infos))
	for name := range infos {
		names = append(names, name)
	}
	sort.Strings(names)
	if err := checkSafetensorsLayout(path, infos, names, dataLen); err != nil {
		return nil, err
	}
	sums, err := parseChecksums(path, meta, infos)
	if err != nil {
		return nil, err
	}
	return &SafetensorsFile{path: path, r: r, dataOff: 8 + int64(hlen), infos: infos, names: names, meta: meta, sums: sums}, nil
}

// parseSafetensorsHeader decodes the JSON header into per-tensor infos (each checked on its
// own: dtype, shape, offsets consistent with the size) and the metadata map.
func parseSafetensorsHeader(path string, header []byte) (map[string]SafetensorsInfo, map[string]string, error) {
	fail := func(tensor, format string, args ...any) (map[string]SafetensorsInfo, map[string]string, error) {
		return nil, nil, safetensorsErrorf(path, tensor, format, args...)
	}
	if !utf8.Valid(header) {
		return fail("", "header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fail("", "header is not valid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fail("", "header must be a JSON object, found %v", tok)
	}
	infos := map[string]SafetensorsInfo{}
	var meta map[string]string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail("", "header is not valid JSON: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return fail("", "header is not valid JSON: expected a key, found %v", tok)
		}
		if seen[name] {
			return fail(name, "appears twice in the header")
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fail(name, "header is not valid JSON: %v", err)
		}
		if name == "__metadata__" {
			if err := json.Unmarshal(raw, &meta); err != nil {
				return fail("", "__metadata__ must be an object of string values: %v", err)
			}
			continue
		}
		info, err := parseSafetensorsEntry(path, name, raw)
		if err != nil {
			return nil, nil, err
		}
		infos[name] = info
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fail("", "header is not valid JSON: %v", err)
	}
	switch tok, err := dec.Token(); {
	case err == io.EOF:
	case err != nil:
		return fail("", "unexpected content after the header object: %v", err)
	default:
		return fail("", "unexpected content after the header object: %v", tok)
	}
	return infos, meta, nil
}

// parseSafetensorsEntry checks one tensor entry: known dtype, non-negative shape whose byte
// size does not overflow, and data_offsets [begin, end] spanning exactly that size.
func parseSafetensorsEntry(path, name string, raw json.RawMessage) (SafetensorsInfo, error) {
	fail := func(format string, args ...any) (SafetensorsInfo, error) {
		return SafetensorsInfo{}, safetensorsErrorf(path, name, format, args...)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return fail("entry must be an object with dtype, shape and data_offsets, found %.60s", raw)
	}
	var (
		dtype   string
		shape   []int64
		offsets []int64
	)
	for _, f := range []struct {
		key string
		dst any
	}{{"dtype", &dtype}, {"shape", &shape}, {"data_offsets", &offsets}} {
		v, ok := fields[f.key]
		if !ok {
			return fail("missing field %q", f.key)
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return fail("field %q: %v (found %.60s)", f.key, err, v)
		}
	}
	if shape == nil && string(fields["shape"]) == "null" {
		return fail("field \"shape\" is null, expected a list of dimensions")
	}
	esize, ok := safetensorsDTypeSize[dtype]
	if !ok {
		return fail("unknown dtype %q", dtype)
	}
	numel := int64(1)
	ishape := make([]int, len(shape))
	for i, d := range shape {
		if d < 0 {
			return fail("shape %v has a negative dimension", shape)
		}
		if d > 0 && numel > math.MaxInt64/d {
			return fail("shape %v overflows the element count", shape)
		}
		numel *= d
		ishape[i] = int(d)
	}
	if numel > math.MaxInt64/esize {
		return fail("shape %v of %s overflows the byte size", shape, dtype)
	}
	nbytes := numel * esize
	if len(offsets) != 2 {
		return fail("data_offsets must be [begin, end], found %d values", len(offsets))
	}
	b, e := offsets[0], offsets[1]
	if b < 0 || e < b {
		return fail("data_offsets [%d, %d] must satisfy 0 <= begin <= end", b, e)
	}
	if e-b != nbytes {
		return fail("data_offsets [%d, %d] span %d bytes, expected %d (shape %v × %d-byte %s)", b, e, e-b, nbytes, shape, esize, dtype)
	}
	return SafetensorsInfo{Name: name, DType: dtype, Shape: ishape, Begin: b, End: e}, nil
}

// checkSafetensorsLayout checks that the tensors tile the data section exactly: each lies
// within it, sorted by offset each starts where the previous one ended, and the last ends at
// the end of the file.
func checkSafetensorsLayout(path string, infos map[string]SafetensorsInfo, names []string, dataLen int64) error {
	for _, name := range names {
		if in := infos[name]; in.End > dataLen {
			return safetensorsErrorf(path, name, "data_offsets [%d, %d] run past the data section, which holds %d bytes (truncated file?)", in.Begin, in.End, dataLen)
		}
	}
	order := slices.Clone(names)
	sort.SliceStable(order, func(i, j int) bool {
		a, b := infos[order[i]], infos[order[j]]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		return a.End < b.End
	})
	pos, prev := int64(0), ""
	for _, name := range order {
		in := infos[name]
		switch {
		case in.Begin < pos:
			return safetensorsErrorf(path, name, "data_offsets [%d, %d] overlap tensor %q, which ends at %d", in.Begin, in.End, prev, pos)
		case in.Begin > pos && prev == "":
			return safetensorsErrorf(path, name, "data_offsets [%d, %d] leave a gap of %d bytes at the start of the data section (expected begin 0)", in.Begin, in.End, in.Begin)
		case in.Begin > pos:
			return safetensorsErrorf(path, name, "data_offsets [%d, %d] leave a gap of %d bytes after tensor %q (expected begin %d)", in.Begin, in.End, in.Begin-pos, prev, pos)
		}
		pos, prev = in.End, name
	}
	if pos != dataLen {
		if prev == "" {
			return safetensorsErrorf(path, "", "no tensors, but the data section holds %d bytes", dataLen)
		}
		return safetensorsErrorf(path, prev, "the last tensor ends at byte %d of the data section, but it holds %d bytes (%d unexplained trailing bytes)", pos, dataLen, dataLen-pos)
	}
	return nil
}
