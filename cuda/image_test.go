package cuda

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

func TestChooseImage(t *testing.T) {
	cases := []struct {
		major, minor int
		force        string
		want         Image
		err          string
	}{
		{8, 0, "", ImageSM80, ""},     // A100
		{8, 6, "", ImageSM80, ""},     // A10, RTX 30xx: sm_80 code runs on 8.x with x ≥ 0
		{8, 9, "auto", ImageSM80, ""}, // L4, RTX 40xx
		{9, 0, "", ImageSM90, ""},     // H100, H200
		{10, 0, "", ImagePTX, ""},     // Blackwell: JIT from the PTX
		{12, 0, "", ImagePTX, ""},
		{9, 0, "ptx", ImagePTX, ""},
		{8, 0, "cubin", ImageSM80, ""},
		{9, 0, "cubin", ImageSM90, ""},
		{10, 0, "cubin", "", "no cubin is built for compute capability 10.0"},
		{9, 0, "sass", "", `FLOWTUNE_CUDA_IMAGE="sass": want auto, ptx or cubin`},
	}
	for _, c := range cases {
		got, err := chooseImage(c.major, c.minor, c.force)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%d.%d force %q: error %v, want one containing %q", c.major, c.minor, c.force, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%d.%d force %q: %q, %v; want %q", c.major, c.minor, c.force, got, err, c.want)
		}
	}
}

// TestCubinsFresh fails when the cubins were not assembled from the committed PTX (build.sh
// writes both), and checks that each is an ELF image for its architecture.
func TestCubinsFresh(t *testing.T) {
	sum := sha256.Sum256([]byte(readFile(t, "kernels.ptx")))
	want := strings.TrimSpace(readFile(t, "kernels.cubin.sha256"))
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("cuda/kernels.sm_*.cubin are stale: they were assembled from a PTX with SHA-256 %s, the committed one has %s; run ./build.sh and commit cuda/",
			want[:min(12, len(want))], got[:12])
	}
	for _, c := range []struct {
		file string
		sm   byte
	}{{"kernels.sm_80.cubin", 80}, {"kernels.sm_90.cubin", 90}} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 64 || !bytes.Equal(b[:4], []byte("\x7fELF")) {
			t.Errorf("%s is not an ELF image", c.file)
			continue
		}
		// e_flags (offset 48 in a 64-bit ELF header) carry the SM number in their low byte.
		if b[48] != c.sm {
			t.Errorf("%s: e_flags say sm_%d", c.file, b[48])
		}
	}
}
