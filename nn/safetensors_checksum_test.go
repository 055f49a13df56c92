package nn

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// A flipped bit in the data of a file SaveTensors wrote is an error naming the file and the
// tensor, on every path that reads it; the intact file reads back, and its checksums are those
// of the stored bytes.
func TestSaveTensorsChecksumCatchesBitFlip(t *testing.T) {
	b := tensor.CPU()
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	src := map[string]*tensor.Tensor{
		"a": tensor.New(b, []float32{1, 2, 3, 4}, 2, 2),
		"z": tensor.New(b, []float32{0.25, -0.5}, 2),
	}
	if err := SaveTensors(path, src, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Checksummed() {
		t.Fatal("SaveTensors wrote a file without a checksum per tensor")
	}
	in, _ := f.Info("z")
	off := f.dataOff + in.Begin // element 0 of "z"
	f.Close()
	if err := LoadInto(path, map[string]*tensor.Tensor{"a": tensor.Zeros(b, 2, 2), "z": tensor.Zeros(b, 2)}); err != nil {
		t.Fatalf("intact file: %v", err)
	}

	// One exponent bit of z[0]: 0.25 becomes a huge but finite number, as in the probe.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bits := binary.LittleEndian.Uint32(raw[off:])
	binary.LittleEndian.PutUint32(raw[off:], bits^(1<<30))
	if v := math.Float32frombits(bits ^ (1 << 30)); !(v > 1e30) {
		t.Fatalf("flipped value %v", v)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := map[string]*tensor.Tensor{"a": tensor.Zeros(b, 2, 2), "z": tensor.Zeros(b, 2)}
	err = LoadInto(path, dst)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `tensor "z"`) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("LoadInto of a damaged file: %v", err)
	}
	if d := dst["a"].Data(); d[0] != 0 {
		t.Fatal("LoadInto wrote tensors before finding the damage")
	}
	if _, _, err := ReadSafetensors(path); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("ReadSafetensors of a damaged file: %v", err)
	}
}

// Files without checksums (written by WriteSafetensors or other tools) read as before; a
// malformed checksum entry is reported.
func TestChecksumsOptionalButWellFormed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain.safetensors")
	ts := map[string]HostTensor{"w": {Shape: []int{2}, Data: []float32{1, 2}}}
	if err := WriteSafetensors(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadSafetensors(path); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`{"w":"xyz"}`, `{"q":"00000000"}`, `[1]`} {
		if err := WriteSafetensors(path, ts, map[string]string{MetaChecksums: bad}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ReadSafetensors(path); err == nil || !strings.Contains(err.Error(), MetaChecksums) {
			t.Fatalf("checksums %s: %v", bad, err)
		}
	}
	if err := WriteSafetensors(path, ts, map[string]string{MetaChecksums: checksumMeta(ts, SafetensorsF32)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadSafetensors(path); err != nil {
		t.Fatalf("correct checksums: %v", err)
	}
}
