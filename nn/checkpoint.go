package nn

// Saving and loading named device tensors (model parameters, LoRA adapters, optimiser moments)
// through safetensors files.

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/flowtune/flowtune/tensor"
)

// SaveTensors downloads every tensor and writes them, with metadata and a checksum per tensor
// (MetaChecksums, verified whenever the file is read), to path as F32 safetensors, atomically.
func SaveTensors(path string, tensors map[string]*tensor.Tensor, meta map[string]string) error {
	return SaveTensorsAs(path, tensors, meta, SafetensorsF32)
}

// SaveTensorsAs is SaveTensors storing dtype: SafetensorsF32, or SafetensorsBF16 (rounded to
// nearest even, half the size), with the checksums of the stored bytes.
func SaveTensorsAs(path string, tensors map[string]*tensor.Tensor, meta map[string]string, dtype string) error {
	host := make(map[string]HostTensor, len(tensors))
	for name, t := range tensors {
		if t == nil {
			panic(fmt.Sprintf("nn.SaveTensors: tensor %q is nil", name))
		}
		host[name] = HostTensor{Shape: t.Shape(), Data: t.Data()}
	}
	if err := checkSafetensorsWrite(path, host, meta, dtype); err != nil {
		return err // before checksumming: an unknown dtype is an error, not a panic
	}
	m := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		m[k] = v
	}
	m[MetaChecksums] = checksumMeta(host, dtype)
	return WriteSafetensorsAs(path, host, m, dtype)
}

// LoadInto fills the tensors of dst from the file at path. The file must hold exactly the
// names of dst, each with the same shape; otherwise the error lists every missing name,
// unexpected name and shape mismatch. Loading is all-or-nothing: the header is checked and
// every tensor read and converted on the host before the first one is written into dst.
func LoadInto(path string, dst map[string]*tensor.Tensor) error {
	f, err := OpenSafetensors(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.LoadInto(dst)
}

// LoadInto is the package-level LoadInto on an already opened file.
func (f *SafetensorsFile) LoadInto(dst map[string]*tensor.Tensor) error {
	path := f.path
	var missing, unexpected, problems []string
	for name, t := range dst {
		if t == nil {
			panic(fmt.Sprintf("nn.LoadInto: destination tensor %q is nil", name))
		}
		in, ok := f.infos[name]
		switch {
		case !ok:
			missing = append(missing, name)
		case !slices.Equal(in.Shape, t.Shape()):
			problems = append(problems, fmt.Sprintf("tensor %q: expected shape %v, file has %v", name, t.Shape(), in.Shape))
		case !safetensorsReadable(in.DType):
			problems = append(problems, fmt.Sprintf("tensor %q: dtype %s cannot be read as float32", name, in.DType))
		}
	}
	for _, name := range f.names {
		if _, ok := dst[name]; !ok {
			unexpected = append(unexpected, name)
		}
	}
	if len(missing)+len(unexpected)+len(problems) > 0 {
		sort.Strings(missing)
		sort.Strings(problems)
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, fmt.Sprintf("missing %d tensor(s): %s", len(missing), quoteList(missing)))
		}
		if len(unexpected) > 0 {
			parts = append(parts, fmt.Sprintf("unexpected %d tensor(s): %s", len(unexpected), quoteList(unexpected)))
		}
		parts = append(parts, problems...)
		return fmt.Errorf("safetensors %s: does not match the expected tensors: %s", path, strings.Join(parts, "; "))
	}

	host := make(map[string][]float32, len(dst))
	for name := range dst {
		t, err := f.Read(name)
		if err != nil {
			return err
		}
		host[name] = t.Data
	}
	for name, t := range dst {
		t.SetData(host[name])
	}
	return nil
}

// quoteList renders names as "a", "b", "c", eliding the middle of very long lists.
func quoteList(names []string) string {
	const show = 20
	q := make([]string, 0, min(len(names), show+1))
	for i, n := range names {
		if i == show {
			q = append(q, fmt.Sprintf("... (%d more)", len(names)-show))
			break
		}
		q = append(q, fmt.Sprintf("%q", n))
	}
	return strings.Join(q, ", ")
}
