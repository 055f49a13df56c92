package nn

import (
	"encoding/binary"
	"fmt"
	"io"
)

// SafetensorsSpec declares one tensor of a streamed safetensors file.
type SafetensorsSpec struct {
	Name  string
	Shape []int
}

// StreamSafetensors writes a safetensors file whose tensors are produced one at a time: fill
// receives each tensor's name and a float32 buffer of its size (in sorted name order, the
// file's storage order) and writes the values; they are stored as dtype (F32, BF16 or F16).
// Only one tensor is in memory at a time, so a file larger than memory can be written (model
// generators, conversions). The write is atomic.
func StreamSafetensors(path string, specs []SafetensorsSpec, meta map[string]string, dtype string,
	fill func(name string, dst []float32) error) error {
	if dtype != SafetensorsF32 && dtype != SafetensorsBF16 && dtype != SafetensorsF16 {
		return safetensorsErrorf(path, "", "cannot write dtype %q (supported: F32, BF16, F16)", dtype)
	}
	shapes := make(map[string]HostTensor, len(specs))
	for _, s := range specs {
		if _, dup := shapes[s.Name]; dup {
			return safetensorsErrorf(path, s.Name, "declared twice")
		}
		for _, d := range s.Shape {
			if d < 0 {
				return safetensorsErrorf(path, s.Name, "shape %v has a negative dimension", s.Shape)
			}
		}
		shapes[s.Name] = HostTensor{Shape: s.Shape}
	}
	header, names := safetensorsHeader(shapes, meta, dtype)
	esize := int(safetensorsDTypeSize[dtype])
	return writeFileAtomic(path, func(w io.Writer) error {
		var lenBuf [8]byte
		binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
		if _, err := w.Write(lenBuf[:]); err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
		var buf []float32
		var bytes []byte
		for _, name := range names {
			n := 1
			for _, d := range shapes[name].Shape {
				n *= d
			}
			if cap(buf) < n {
				buf = make([]float32, n)
				bytes = make([]byte, n*esize)
			}
			buf, bytes = buf[:n], bytes[:n*esize]
			if err := fill(name, buf); err != nil {
				return fmt.Errorf("tensor %q: %w", name, err)
			}
			encodeSafetensorsData(bytes, buf, dtype)
			if _, err := w.Write(bytes); err != nil {
				return err
			}
		}
		return nil
	})
}
