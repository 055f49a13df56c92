package sd3

import (
	"testing"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// TestMemoryEstimateMatchesTape: the activation term of EstimateTrainMemory bounds what the
// tape really keeps (tensor.TapeBytes) from above, by at most 35%, with and without per-block
// recomputation, on a small model of SD3.5's structure.
func TestMemoryEstimateMatchesTape(t *testing.T) {
	b := tensor.CPU()
	cfg, _ := Named("tiny")
	cfg.NumLayers, cfg.DualAttentionLayers = 5, []int{1, 2}
	const rank, img, L, B = 4, 64, 20, 2
	for _, rc := range []bool{false, true} {
		m, err := New(b, cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		m.Recompute = rc
		if _, err := AddLoRA(m, "policy", rank, 2*rank, DefaultTargets, tensor.NewRNG(1)); err != nil {
			t.Fatal(err)
		}
		nn.FreezeBase(m)
		nn.UseAdapter(m, "policy")
		rng := tensor.NewRNG(3)
		x := rng.Normal(b, B, 16, img/8, img/8)
		out := m.Forward(x, []float32{100, 700}, rng.Normal(b, B, L, cfg.JointAttentionDim), rng.Normal(b, B, cfg.PooledProjectionDim))
		got := tensor.TapeBytes(out, nn.Tensors(nn.NamedParams(m))...)
		est := EstimateTrainMemory(cfg, TrainShape{ImageSize: img, TextTokens: L, MicroBatch: B, LoRARank: rank, Recompute: rc}).Activations
		t.Logf("recompute %v: tape %d bytes, estimate %d (%.2f×)", rc, got, est, float64(est)/float64(got))
		if est < got || float64(est) > 1.35*float64(got) {
			t.Errorf("recompute %v: estimate %d bytes for a tape of %d", rc, est, got)
		}
	}
}

// TestSD35MediumFits40GB records the answer of the estimate for the target: SD3.5-Medium
// at 512² (1024 image + 333 text tokens), micro-batch 4, rank-32 LoRA with old and EMA copies,
// bf16 base. With per-block recomputation it fits a 40 GB card; keeping every activation does not.
func TestSD35MediumFits40GB(t *testing.T) {
	cfg, _ := Named("sd3.5-medium")
	shape := TrainShape{ImageSize: 512, TextTokens: 333, MicroBatch: 4, LoRARank: 32, BaseBF16: true, AdapterCopies: 2}
	const limit = 40e9
	shape.Recompute = true
	with := EstimateTrainMemory(cfg, shape)
	shape.Recompute = false
	without := EstimateTrainMemory(cfg, shape)
	t.Logf("with recomputation: %s", with)
	t.Logf("without: %s", without)
	if with.Total > limit || without.Total < limit {
		t.Errorf("with recomputation %d bytes, without %d: expected only the first under 40 GB", with.Total, without.Total)
	}
}
