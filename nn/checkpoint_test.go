package nn

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

func TestSaveLoadTensors(t *testing.T) {
	b := tensor.CPU()
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	src := map[string]*tensor.Tensor{
		"layer.weight": tensor.New(b, []float32{1, 2, 3, 4, 5, 6}, 2, 3),
		"layer.bias":   tensor.New(b, []float32{-1, 0.5}, 2),
		"gain":         tensor.New(b, []float32{3}),
	}
	if err := SaveTensors(path, src, map[string]string{"step": "42"}); err != nil {
		t.Fatal(err)
	}
	dst := map[string]*tensor.Tensor{
		"layer.weight": tensor.Zeros(b, 2, 3),
		"layer.bias":   tensor.Zeros(b, 2),
		"gain":         tensor.Zeros(b),
	}
	if err := LoadInto(path, dst); err != nil {
		t.Fatal(err)
	}
	for name, s := range src {
		if got, want := dst[name].Data(), s.Data(); !slices.Equal(got, want) {
			t.Fatalf("%s: loaded %v, want %v", name, got, want)
		}
	}
	if _, meta, err := ReadSafetensors(path); err != nil || meta["step"] != "42" {
		t.Fatalf("metadata %v, err %v", meta, err)
	}
}

func TestLoadIntoMismatch(t *testing.T) {
	b := tensor.CPU()
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := SaveTensors(path, map[string]*tensor.Tensor{
		"a":     tensor.New(b, []float32{1, 2, 3, 4}, 2, 2),
		"b":     tensor.New(b, []float32{5, 6}, 2),
		"extra": tensor.New(b, []float32{7}, 1),
	}, nil); err != nil {
		t.Fatal(err)
	}
	dst := map[string]*tensor.Tensor{
		"a":       tensor.Zeros(b, 2, 2), // matches: must stay untouched anyway
		"b":       tensor.Zeros(b, 1, 2), // wrong shape
		"missing": tensor.Zeros(b, 3),
	}
	err := LoadInto(path, dst)
	if err == nil {
		t.Fatal("LoadInto accepted a mismatching file")
	}
	msg := err.Error()
	for _, want := range []string{path, `missing 1 tensor(s): "missing"`, `unexpected 1 tensor(s): "extra"`,
		`tensor "b": expected shape [1 2], file has [2]`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	for name, d := range dst {
		for _, v := range d.Data() {
			if v != 0 {
				t.Fatalf("%s was written although the load failed", name)
			}
		}
	}
}

func TestLoadIntoUnreadableDType(t *testing.T) {
	// The header is valid and the names and shapes match, but one tensor is I64: nothing may be
	// written, including the F32 tensor that would load fine.
	path := filepath.Join(t.TempDir(), "mixed.safetensors")
	header := `{"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"w":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}}`
	if err := os.WriteFile(path, stBuild(header, append(make([]byte, 16), stF32Bytes(9)...)), 0o644); err != nil {
		t.Fatal(err)
	}
	b := tensor.CPU()
	dst := map[string]*tensor.Tensor{"ids": tensor.Zeros(b, 2), "w": tensor.Zeros(b, 1)}
	err := LoadInto(path, dst)
	if err == nil || !strings.Contains(err.Error(), `tensor "ids": dtype I64`) {
		t.Fatalf("want a dtype error naming ids, got %v", err)
	}
	if v := dst["w"].Data()[0]; v != 0 {
		t.Fatalf("w was loaded (%g) although the load failed", v)
	}
}

func TestLoadIntoBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	var data []byte
	for _, c := range stBadCases() {
		if c.name == "overlap" {
			data = c.data
		}
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := map[string]*tensor.Tensor{"w": tensor.Zeros(tensor.CPU(), 4)}
	if err := LoadInto(path, dst); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "overlap") {
		t.Fatalf("want an overlap error naming %s, got %v", path, err)
	}
}
