//go:build cuda

package cuda

import (
	"unsafe"

	"github.com/mumax/3/cuda/cu"
)

// Host↔device transfers, counted (counts.go).

// upload copies bytes from host memory at src to the device. A synchronous copy from pageable
// memory first waits for the stream, so it counts as a sync.
func (b *Backend) upload(dst cu.DevicePtr, src unsafe.Pointer, bytes int64) {
	b.cnt.Uploads++
	b.cnt.Syncs++
	cu.MemcpyHtoD(dst, src, bytes)
}

// download copies bytes from the device to host memory at dst, waiting for all queued work.
func (b *Backend) download(dst unsafe.Pointer, src cu.DevicePtr, bytes int64) {
	b.cnt.Downloads++
	b.cnt.Syncs++
	cu.MemcpyDtoH(dst, src, bytes)
}

// dtod queues a device-to-device copy.
func (b *Backend) dtod(dst, src cu.DevicePtr, bytes int64) {
	b.cnt.DevCopies++
	cu.MemcpyDtoDAsync(dst, src, bytes, 0)
}
