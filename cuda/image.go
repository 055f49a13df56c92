package cuda

import (
	"fmt"
	"os"
)

// Which compiled form of kernels.cu the backend hands to the driver. build.sh ships three:
// the PTX (compute_80, JIT-compiled by the driver on any card from 8.0 on, seconds per
// process) and machine code (cubin) for sm_80 and sm_90, which load in milliseconds. A cubin
// for sm_XY runs on every card of major version X with minor ≥ Y, so the 8.x family (A100,
// A10, RTX 30xx/40xx) takes sm_80 and 9.x (H100, H200, GH200) takes sm_90; later majors get
// the PTX.

// Image names one compiled form of the kernels.
type Image string

const (
	ImagePTX   Image = "ptx"
	ImageSM80  Image = "sm_80"
	ImageSM90  Image = "sm_90"
	imageEnv         = "FLOWTUNE_CUDA_IMAGE"
	imageAuto        = "auto"
	imageCubin       = "cubin"
)

// chooseImage picks the image for a card of compute capability major.minor. force is the
// value of FLOWTUNE_CUDA_IMAGE: "" or "auto" (the best match), "ptx" (always JIT, e.g. to
// measure it or to rule the cubins out), "cubin" (the matching cubin or an error).
func chooseImage(major, minor int, force string) (Image, error) {
	var best Image
	switch major {
	case 8:
		best = ImageSM80
	case 9:
		best = ImageSM90
	}
	switch force {
	case "", imageAuto:
		if best == "" {
			return ImagePTX, nil
		}
		return best, nil
	case string(ImagePTX):
		return ImagePTX, nil
	case imageCubin:
		if best == "" {
			return "", fmt.Errorf("%s=cubin: no cubin is built for compute capability %d.%d (build.sh ships sm_80 and sm_90); unset it to use the PTX", imageEnv, major, minor)
		}
		return best, nil
	}
	return "", fmt.Errorf("%s=%q: want auto, ptx or cubin", imageEnv, force)
}

// imageFromEnv is chooseImage with FLOWTUNE_CUDA_IMAGE.
func imageFromEnv(major, minor int) (Image, error) {
	return chooseImage(major, minor, os.Getenv(imageEnv))
}
