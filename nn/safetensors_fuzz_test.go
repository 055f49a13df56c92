package nn

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadSafetensors feeds arbitrary bytes to the reader. It must never panic; a rejected
// input yields a labelled error and no partial result; an accepted input must survive a
// re-serialisation: writing what was read (as F32) and reading it back gives the same names,
// shapes, bits and metadata, and writing it twice gives the same bytes.
func FuzzReadSafetensors(f *testing.F) {
	var valid bytes.Buffer
	if err := EncodeSafetensors(&valid, stSampleTensors(), map[string]string{"format": "pt"}, SafetensorsF32); err != nil {
		f.Fatal(err)
	}
	var bf16 bytes.Buffer
	if err := EncodeSafetensors(&bf16, map[string]HostTensor{"w": {Shape: []int{3}, Data: []float32{1, 2, 3}}}, nil, SafetensorsBF16); err != nil {
		f.Fatal(err)
	}
	f.Add(valid.Bytes())
	f.Add(bf16.Bytes())
	f.Add(stInteropFile())
	if b, err := os.ReadFile(filepath.Join("testdata", "numpy_written.safetensors")); err == nil {
		f.Add(b)
	}
	f.Add(stBuild("{}", nil))
	f.Add(valid.Bytes()[:len(valid.Bytes())/2])
	flipped := bytes.Clone(stInteropFile())
	flipped[20] ^= 0x20
	f.Add(flipped)
	for _, c := range stBadCases() {
		f.Add(c.data)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		ts, meta, err := DecodeSafetensors("fuzz.safetensors", data)
		if err != nil {
			if ts != nil || meta != nil {
				t.Fatalf("partial result returned with error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "safetensors fuzz.safetensors: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		var once, twice bytes.Buffer
		if err := EncodeSafetensors(&once, ts, meta, SafetensorsF32); err != nil {
			t.Fatalf("re-encoding an accepted file: %v", err)
		}
		ts2, meta2, err := DecodeSafetensors("again", once.Bytes())
		if err != nil {
			t.Fatalf("reading back a re-encoded file: %v", err)
		}
		if len(ts2) != len(ts) || len(meta2) != len(meta) {
			t.Fatalf("re-read %d tensors / %d metadata keys, want %d / %d", len(ts2), len(meta2), len(ts), len(meta))
		}
		for name, want := range ts {
			got, ok := ts2[name]
			if !ok {
				t.Fatalf("tensor %q lost in re-encoding", name)
			}
			if len(got.Shape) != len(want.Shape) || len(got.Data) != len(want.Data) {
				t.Fatalf("tensor %q: shape %v (%d values), want %v (%d values)", name, got.Shape, len(got.Data), want.Shape, len(want.Data))
			}
			for i := range got.Shape {
				if got.Shape[i] != want.Shape[i] {
					t.Fatalf("tensor %q: shape %v, want %v", name, got.Shape, want.Shape)
				}
			}
			for i := range got.Data {
				if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
					t.Fatalf("tensor %q element %d: %#08x, want %#08x", name, i, math.Float32bits(got.Data[i]), math.Float32bits(want.Data[i]))
				}
			}
		}
		for k, v := range meta {
			if meta2[k] != v {
				t.Fatalf("metadata %q: %q, want %q", k, meta2[k], v)
			}
		}
		if err := EncodeSafetensors(&twice, ts2, meta2, SafetensorsF32); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once.Bytes(), twice.Bytes()) {
			t.Fatal("encoding the same tensors twice gave different bytes")
		}
	})
}
