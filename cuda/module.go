//go:build cuda

package cuda

/*
#include <cuda.h>
*/
import "C"

import (
	_ "embed"
	"fmt"
	"os"
	"regexp"
	"time"
	"unsafe"

	"github.com/mumax/3/cuda/cu"

	"github.com/flowtune/flowtune/tensor"
)

// The compiled forms of kernels.cu (build.sh; image.go says which one a card gets).

//go:embed kernels.ptx
var kernelsPTX string

//go:embed kernels.sm_80.cubin
var kernelsSM80 []byte

//go:embed kernels.sm_90.cubin
var kernelsSM90 []byte

// kernelNames lists the kernels of kernels.cu (the PTX's entries; every image has the same).
func kernelNames() []string {
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\.visible \.entry (\w+)\(`).FindAllStringSubmatch(kernelsPTX, -1) {
		names = append(names, m[1])
	}
	return names
}

// moduleLoad hands image to the driver (it copies it). PTX must end in a NUL byte.
func moduleLoad(image []byte) (cu.Module, C.CUresult) {
	var mod C.CUmodule
	r := C.cuModuleLoadData(&mod, unsafe.Pointer(&image[0]))
	return cu.Module(uintptr(unsafe.Pointer(mod))), r
}

// loadKernels loads the image chosen for compute capability major.minor (FLOWTUNE_CUDA_IMAGE
// may force one). A cubin the driver refuses, unless forced, gives way to the PTX; note says
// why. It panics with the driver's verdict when nothing loads.
func loadKernels(major, minor int) (mod cu.Module, img Image, took time.Duration, note string, err error) {
	img, err = imageFromEnv(major, minor)
	if err != nil {
		return 0, "", 0, "", err
	}
	t0 := time.Now()
	var r C.CUresult
	switch img {
	case ImageSM80:
		mod, r = moduleLoad(kernelsSM80)
	case ImageSM90:
		mod, r = moduleLoad(kernelsSM90)
	}
	if img != ImagePTX && r != C.CUDA_SUCCESS {
		if os.Getenv(imageEnv) == imageCubin {
			return 0, "", 0, "", fmt.Errorf("loading the %s cubin: %v", img, cu.Result(r))
		}
		note = fmt.Sprintf("the %s cubin did not load (%v); using the PTX", img, cu.Result(r))
		img = ImagePTX
	}
	if img == ImagePTX {
		ptx := append([]byte(kernelsPTX), 0)
		mod, r = moduleLoad(ptx)
		check(r)
	}
	return mod, img, time.Since(t0), note, nil
}

// Describe says which device a CUDA backend (or a validating wrapper of one) runs on and which
// image of the kernels it loaded, for logs; "" for any other backend.
func Describe(b tensor.Backend) string {
	switch g := b.(type) {
	case *Backend:
		return g.Info().String()
	case *Validating:
		return g.gpu.Info().String() + " (validating against the CPU)"
	}
	return ""
}
