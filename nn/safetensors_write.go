package nn

// Writing safetensors files. Output is deterministic: tensors are laid out in sorted name
// order, the header is built by hand with sorted keys and padded with spaces so the data
// section starts on an 8-byte boundary. Files are replaced atomically (temp file in the same
// directory, fsync, rename), so a crash or error never leaves a partial file under the target
// name.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WriteSafetensors writes tensors (as F32) and optional metadata to path atomically.
func WriteSafetensors(path string, tensors map[string]HostTensor, meta map[string]string) error {
	return WriteSafetensorsAs(path, tensors, meta, SafetensorsF32)
}

// WriteSafetensorsAs is WriteSafetensors with the stored dtype chosen: F32 (exact) or BF16
// (rounded to nearest even; half the size, the usual dtype of released model weights).
func WriteSafetensorsAs(path string, tensors map[string]HostTensor, meta map[string]string, dtype string) error {
	// Validate before touching the file system.
	if err := checkSafetensorsWrite(path, tensors, meta, dtype); err != nil {
		return err
	}
	return writeFileAtomic(path, func(w io.Writer) error {
		return EncodeSafetensors(w, tensors, meta, dtype)
	})
}

// EncodeSafetensors writes the safetensors bytes of tensors and metadata to w.
func EncodeSafetensors(w io.Writer, tensors map[string]HostTensor, meta map[string]string, dtype string) error {
	if err := checkSafetensorsWrite("(encode)", tensors, meta, dtype); err != nil {
		return err
	}
	header, names := safetensorsHeader(tensors, meta, dtype)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	const chunk = 1 << 16
	esize := int(safetensorsDTypeSize[dtype])
	buf := make([]byte, chunk*esize)
	for _, name := range names {
		data := tensors[name].Data
		for len(data) > 0 {
			k := min(len(data), chunk)
			b := buf[:k*esize]
			encodeSafetensorsData(b, data[:k], dtype)
			if _, err := w.Write(b); err != nil {
				return err
			}
			data = data[k:]
		}
	}
	return nil
}

// checkSafetensorsWrite rejects what cannot be written faithfully.
func checkSafetensorsWrite(path string, tensors map[string]HostTensor, meta map[string]string, dtype string) error {
	if dtype != SafetensorsF32 && dtype != SafetensorsBF16 {
		return safetensorsErrorf(path, "", "cannot write dtype %q (supported: F32, BF16)", dtype)
	}
	for k, v := range meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return safetensorsErrorf(path, "", "metadata entry %q is not valid UTF-8", k)
		}
	}
	for name, t := range tensors {
		if !utf8.ValidString(name) {
			return safetensorsErrorf(path, name, "name is not valid UTF-8")
		}
		if name == "__metadata__" {
			return safetensorsErrorf(path, name, "name is reserved for the metadata map")
		}
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return safetensorsErrorf(path, name, "shape %v has a negative dimension", t.Shape)
			}
			if d > 0 && n > math.MaxInt/d {
				return safetensorsErrorf(path, name, "shape %v overflows the element count", t.Shape)
			}
			n *= d
		}
		if n != len(t.Data) {
			return safetensorsErrorf(path, name, "shape %v needs %d values, have %d", t.Shape, n, len(t.Data))
		}
	}
	return nil
}

// safetensorsHeader builds the padded JSON header and returns it with the tensor names in
// storage order.
func safetensorsHeader(tensors map[string]HostTensor, meta map[string]string, dtype string) ([]byte, []string) {
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		names = append(names, name)
	}
	sort.Strings(names)
	esize := safetensorsDTypeSize[dtype]

	var sb strings.Builder
	sb.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			sb.WriteByte(',')
		}
		first = false
	}
	if len(meta) > 0 {
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sep()
		sb.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.Write(jsonString(k))
			sb.WriteByte(':')
			sb.Write(jsonString(meta[k]))
		}
		sb.WriteByte('}')
	}
	var off int64
	for _, name := range names {
		t := tensors[name]
		n := int64(1)
		for _, d := range t.Shape {
			n *= int64(d)
		}
		end := off + n*esize
		sep()
		sb.Write(jsonString(name))
		sb.WriteString(`:{"dtype":"`)
		sb.WriteString(dtype)
		sb.WriteString(`","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.Itoa(d))
		}
		fmt.Fprintf(&sb, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	sb.WriteByte('}')
	for (8+sb.Len())%8 != 0 {
		sb.WriteByte(' ')
	}
	return []byte(sb.String()), names
}

// jsonString encodes s (valid UTF-8) as a JSON string literal, without HTML escaping.
func jsonString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil { // cannot happen for a string
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// encodeSafetensorsData writes float32 values as little-endian elements of dtype.
func encodeSafetensorsData(dst []byte, src []float32, dtype string) {
	switch dtype {
	case SafetensorsF32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case SafetensorsBF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], Float32ToBF16(v))
		}
	case SafetensorsF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], Float32ToF16(v))
		}
	default:
		panic("nn: encodeSafetensorsData: unsupported dtype " + dtype)
	}
}

// writeFileAtomic writes path through a temporary file in the same directory: write, fsync,
// close, rename over path, fsync the directory. On any failure the temporary file is removed
// and path is left as it was.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmpName)
			err = fmt.Errorf("safetensors %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmpName, path); err != nil {
		return err
	}
	// Make the rename itself durable; not every file system supports syncing a directory, so
	// a failure here is not an error for the caller.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
