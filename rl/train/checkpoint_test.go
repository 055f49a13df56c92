package train

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/nn"
)

// copyDir copies the regular files of src into a fresh directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// editState rewrites the training state in dir's checkpoint through edit, keeping the tensors
// (and their checksums) as they are.
func editState(t *testing.T, dir string, edit func(st map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, CheckpointFile)
	ts, meta, err := nn.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(meta[metaState]), &st); err != nil {
		t.Fatal(err)
	}
	edit(st)
	b, _ := json.Marshal(st)
	meta[metaState] = string(b)
	if err := nn.WriteSafetensors(path, ts, meta); err != nil {
		t.Fatal(err)
	}
}

// A damaged checkpoint is refused on resume with what is wrong, before any training: a flipped
// bit in a tensor (checksum), NaN in a tensor, and training-state values out of range.
func TestResumeRefusesDamagedCheckpoint(t *testing.T) {
	cfg := tinyConfig("ram")
	cfg.Steps, cfg.EvalEvery, cfg.CheckpointEvery = 2, 0, 0
	good := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	tr := newTinyTrainer(t, cfg, good)
	tr.afterStep = func(step int) {
		if step == 1 {
			cancel()
		}
	}
	if _, err := tr.Run(ctx); err == nil {
		t.Fatal("the interrupted run did not report the interruption")
	}
	cfg.Steps = 3
	resume := func(dir string) error {
		r := newTinyTrainer(t, cfg, dir)
		r.Resume = true
		_, err := r.Run(context.Background())
		return err
	}

	// One exponent bit of the first value of a policy LoRA weight: finite, huge, and caught.
	flipped := copyDir(t, good)
	path := filepath.Join(flipped, CheckpointFile)
	f, err := nn.OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, n := range f.Names() {
		if strings.HasPrefix(n, "adapter/") && strings.Contains(n, "policy") {
			name = n
			break
		}
	}
	in, _ := f.Info(name)
	hdr := make([]byte, 8)
	raw, _ := os.ReadFile(path)
	copy(hdr, raw[:8])
	f.Close()
	off := 8 + int64(binary.LittleEndian.Uint64(hdr)) + in.Begin
	binary.LittleEndian.PutUint32(raw[off:], binary.LittleEndian.Uint32(raw[off:])^(1<<30))
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	wantErr(t, resume(flipped), path, name, "checksum")

	// NaN in a tensor of a file without checksums (an older build's).
	nan := copyDir(t, good)
	path = filepath.Join(nan, CheckpointFile)
	ts, meta, err := nn.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	delete(meta, nn.MetaChecksums)
	ts[name].Data[0] = float32(math.NaN())
	if err := nn.WriteSafetensors(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	wantErr(t, resume(nan), path, name, "NaN")

	for _, c := range []struct {
		edit func(st map[string]any)
		want string
	}{
		{func(st map[string]any) { st["step"] = -3 }, "step -3 is negative"},
		{func(st map[string]any) { st["cursor"] = map[string]any{"epoch": 0, "pos": -5} }, "data cursor"},
		{func(st map[string]any) { st["adam_steps"] = 7 }, "adam_steps 7"},
		{func(st map[string]any) { st["rollout_rng"].(map[string]any)["Seed"] = 99 }, "rollout noise stream has seed 99"},
		{func(st map[string]any) { st["metrics"] = []any{map[string]any{"kind": "train", "step": 9}} }, "metrics record 0"},
	} {
		dir := copyDir(t, good)
		editState(t, dir, c.edit)
		wantErr(t, resume(dir), c.want)
	}

	// The intact copy resumes.
	if err := resume(good); err != nil {
		t.Fatal(err)
	}
}

// A training state with a NaN is never saved as a checkpoint: the previous one stays, and the
// error says which tensor.
func TestCheckpointRefusesNonFiniteState(t *testing.T) {
	cfg := tinyConfig("awm")
	dir := t.TempDir()
	r, err := newTinyTrainer(t, cfg, dir).setup()
	if err != nil {
		t.Fatal(err)
	}
	defer r.lock.unlock()
	if err := r.saveCheckpoint(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, CheckpointFile))
	for name, p := range r.stateTensors() {
		if strings.HasPrefix(name, "adamw/") {
			d := p.Data()
			d[0] = float32(math.Inf(1))
			p.SetData(d)
			break
		}
	}
	r.st.Step = 1
	wantErr(t, r.saveCheckpoint(), "not saved", "adamw/", "+Inf", "checkpoint of step 0 is kept")
	after, _ := os.ReadFile(filepath.Join(dir, CheckpointFile))
	if string(before) != string(after) {
		t.Fatal("the checkpoint was replaced by a non-finite state")
	}
}
