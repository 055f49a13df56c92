package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// These tests need no GPU and no build tag: they keep the committed PTX, kernels.cu and the Go
// launchers consistent.

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPTXFresh fails when kernels.cu changed after cuda/kernels.ptx was generated.
func TestPTXFresh(t *testing.T) {
	src := readFile(t, "../kernels.cu")
	sum := sha256.Sum256([]byte(src))
	want := strings.TrimSpace(readFile(t, "kernels.ptx.sha256"))
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("cuda/kernels.ptx is stale: kernels.cu has SHA-256 %s but the PTX was built from %s; run ./build.sh and commit cuda/",
			got[:12], want[:min(12, len(want))])
	}
	ptx := readFile(t, "kernels.ptx")
	if !strings.Contains(ptx, ".target sm_80") {
		t.Errorf("kernels.ptx does not target compute_80 (one PTX for A100 and H100): rebuild with ./build.sh")
	}
}

func ptxEntries(t *testing.T) map[string]bool {
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\.visible \.entry (\w+)\(`).FindAllStringSubmatch(readFile(t, "kernels.ptx"), -1) {
		names[m[1]] = true
	}
	return names
}

// TestLaunchedKernelsExist checks that every kernel name the launchers use is an unmangled
// entry of the PTX.
func TestLaunchedKernelsExist(t *testing.T) {
	entries := ptxEntries(t)
	want := map[string]bool{}
	files, _ := os.ReadDir(".")
	lit := regexp.MustCompile(`b\.launch\("(\w+)"`)
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		for _, m := range lit.FindAllStringSubmatch(readFile(t, f.Name()), -1) {
			want[m[1]] = true
		}
	}
	// Names built at run time (attention.go, matmul.go, fused.go).
	for _, d := range []string{"16", "32", "64", "128"} {
		for _, k := range []string{"attn_fwd_d", "attn_bwd_dkdv_d", "attn_bwd_dq_d"} {
			want[k+d] = true
		}
	}
	for _, k := range []string{"attn_bf16_fwd_d", "attn_bf16_bwd_dkdv_d", "attn_bf16_bwd_dq_d"} {
		want[k+"64"], want[k+"128"] = true, true
	}
	for _, l := range []string{"nn", "nt", "tn", "tt"} {
		for _, k := range []string{"gemm_f32_", "gemm_tf32_", "gemm_bf16_"} {
			want[k+l] = true
		}
		want["gemm_bf16_"+l+"_u"] = true
		want["gemm_bf16_big_"+l], want["gemm_bf16_mid_"+l] = true, true
	}
	want["sde_step_partial"], want["sqerr_partial"] = true, true
	if len(want) < 40 {
		t.Fatalf("found only %d launched kernels: the scan of the launchers is broken", len(want))
	}
	for name := range want {
		if !entries[name] {
			t.Errorf("kernel %s is launched but missing from kernels.ptx (extern \"C\"? ./build.sh?)", name)
		}
	}
}

// TestOpCodes checks that kernels.cu numbers the unary and binary ops as package tensor does.
func TestOpCodes(t *testing.T) {
	src := readFile(t, "../kernels.cu")
	codes := map[string]int{}
	for _, m := range regexp.MustCompile(`OP_(\w+) = (\d+)`).FindAllStringSubmatch(src, -1) {
		v, _ := strconv.Atoi(m[2])
		codes[strings.ToLower(m[1])] = v
	}
	n := 0
	for op := tensor.UnaryOp(0); op.String() != "unary(?)"; op++ {
		if v, ok := codes[op.String()]; !ok || v != int(op) {
			t.Errorf("unary op %s is %d in package tensor, %d (present: %v) in kernels.cu", op, op, v, ok)
		}
		n++
	}
	for op := tensor.BinaryOp(0); op.String() != "binary(?)"; op++ {
		if v, ok := codes[op.String()]; !ok || v != int(op) {
			t.Errorf("binary op %s is %d in package tensor, %d (present: %v) in kernels.cu", op, op, v, ok)
		}
		n++
	}
	if n != len(codes) {
		t.Errorf("kernels.cu defines %d op codes, package tensor %d", len(codes), n)
	}
}

func TestScatterPlan(t *testing.T) {
	idx := []int32{3, 0, 3, 5, 0, 3}
	got := scatterPlan(idx, 7)
	// distinct rows 0, 3, 5; starts 0, 2, 5, end 6; sources of 0: 1, 4; of 3: 0, 2, 5; of 5: 3.
	want := []int32{0, 3, 5, 0, 2, 5, 6, 1, 4, 0, 2, 5, 3}
	if len(got) != len(want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("plan %v, want %v", got, want)
		}
	}
}

func TestStepProfiler(t *testing.T) {
	var log []string
	p := &StepProfiler{from: 2, to: 3, start: func() { log = append(log, "start") }, stop: func() { log = append(log, "stop") }}
	for i := 0; i < 6; i++ {
		p.Step(i)
		log = append(log, strconv.Itoa(i))
	}
	p.Stop()
	if got := strings.Join(log, " "); got != "0 1 start 2 3 stop 4 5" {
		t.Errorf("capture sequence %q", got)
	}
}

// TestGeometry checks that the launch geometry of geometry.go is the one kernels.cu defines:
// every constant there has its #define here with the same value, and no #define of a geometry
// family (ATT_, ATTB_, GEMM_, ROW_, SCATTER_) lacks a Go twin.
func TestGeometry(t *testing.T) {
	src := readFile(t, "../kernels.cu")
	defs := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^#define ((?:ATT|ATTB|GEMM|ROW|SCATTER)_\w+) (\d+)\b`).FindAllStringSubmatch(src, -1) {
		v, _ := strconv.Atoi(m[2])
		defs[m[1]] = v
	}
	for name, v := range geometry {
		if got, ok := defs[name]; !ok {
			t.Errorf("kernels.cu has no #define %s (Go: %d)", name, v)
		} else if got != v {
			t.Errorf("%s is %d in kernels.cu, %d in cuda/geometry.go", name, got, v)
		}
	}
	for name, v := range defs {
		if _, ok := geometry[name]; !ok {
			t.Errorf("kernels.cu defines %s = %d, which cuda/geometry.go does not mirror", name, v)
		}
	}
	if len(defs) < 10 {
		t.Errorf("found only %d geometry #defines in kernels.cu: the scan is broken", len(defs))
	}
	// The shared-memory sizes of the launchers, against the figures of the kernel headers.
	if got := attnFwdSmem(64); got != 4*(2*64*68+64*68+64*68+64) {
		t.Errorf("attnFwdSmem(64) = %d", got)
	}
	if got := bf16Smem(false, false); got != 4*(128*40+32*136)*2 {
		t.Errorf("bf16Smem(nn) = %d", got)
	}
	if bf16BigSmem != 3*(128*64+64*256)*2 || bf16BigSmem > 163<<10 {
		t.Errorf("bf16BigSmem = %d, want 3 stages of 48 KiB, within the A100's 163 KiB", bf16BigSmem)
	}
	if bf16MidSmem != 3*(128*64+64*128)*2 || 2*bf16MidSmem > 227<<10 {
		t.Errorf("bf16MidSmem = %d, want 3 stages of 32 KiB, two blocks within the H100's 227 KiB", bf16MidSmem)
	}
	if got := tf32Smem(true, true); got != 3*(16*132+128*20)*4 {
		t.Errorf("tf32Smem(tt) = %d", got)
	}
}

// TestBF16KernelRule checks the choice between the bf16 GEMM kernels on the shapes that
// matter: SD3.5-Medium's linear layers (M = batch·1357 tokens) on an H100/H200 (132 SMs,
// 227 KiB) and an A100 (108 SMs, 163 KiB), a card whose 99 KiB hold neither swizzled kernel,
// grids too small to fill the SMs, and unaligned operands.
func TestBF16KernelRule(t *testing.T) {
	const h100, a100, sm86 = 232448, 166912, 101376
	S, M, B := tileSmall, tileMid, tileBig
	cases := []struct {
		m, n, batch  int
		accum, align bool
		smem, sms    int
		want         bf16Tile
	}{
		{4096, 4096, 1, false, true, h100, 132, B},
		{2 * 1357, 1536, 1, false, true, h100, 132, B}, // 22×6 = 132 blocks
		{8 * 1357, 6144, 1, false, true, a100, 108, B}, // mlp-up
		{1536, 1536, 1, false, true, h100, 132, M},     // weight gradient: 72 big, 144 mid blocks
		{1536, 1536, 1, false, true, a100, 108, S},     // two 96 KiB blocks do not fit an A100
		{6144, 1536, 1, false, true, h100, 132, B},     // weight gradient of mlp-up: 288
		{1536, 1536, 2, false, true, h100, 132, B},     // batched: 144 blocks
		{1536, 1536, 2, true, true, h100, 132, M},      // accumulating: one grid
		{4096, 4096, 1, false, false, h100, 132, S},    // unaligned operands
		{4096, 4096, 1, false, true, sm86, 84, S},      // 144 KiB do not fit
		{100, 100, 200, false, true, h100, 132, B},     // many small entries
		{512, 384, 1, false, true, h100, 132, S},       // 8 big, 12 mid blocks
		{8192, 2304, 1, false, true, h100, 132, B},
	}
	for _, c := range cases {
		if got := bf16Kernel(c.m, c.n, c.batch, c.accum, c.align, c.smem, c.sms); got != c.want {
			t.Errorf("bf16Kernel(%+v) = %v", c, got)
		}
	}
}
