//go:build cuda

package cuda

import (
	"unsafe"

	"github.com/mumax/3/cuda/cu"
)

// Host↔device transfers, counted (counts.go).
//
// Uploads go through a pinned staging buffer: the host values are copied into it and an
// asynchronous copy to the device is queued, so an upload neither waits for the kernels queued
// before it nor makes the device wait for the host (a copy from pageable memory would first
// synchronise the stream: the docs' "API synchronization behavior"). Staged bytes are handed
// out front to back; every host wait (a download, Synchronize) proves the queued copies done and
// rewinds the buffer to its start, and when it fills up in between the upload waits for the
// device once. Uploads larger than a quarter of the buffer, and every upload with
// Options.Legacy, take the synchronous copy.

const stagingBytes = 4 << 20

// upload copies bytes from host memory at src to the device.
func (b *Backend) upload(dst cu.DevicePtr, src unsafe.Pointer, bytes int64) {
	b.cnt.Uploads++
	if b.opt.Legacy || bytes > stagingBytes/4 {
		b.cnt.Syncs++
		cu.MemcpyHtoD(dst, src, bytes)
		b.stagedOff = 0
		return
	}
	if b.staging == nil {
		b.staging = cu.MemAllocHost(stagingBytes)
	}
	if b.stagedOff+bytes > stagingBytes {
		b.cnt.Syncs++
		cu.CtxSynchronize() // the staged copies queued so far are done
		b.stagedOff = 0
	}
	at := unsafe.Add(b.staging, b.stagedOff)
	copy(unsafe.Slice((*byte)(at), bytes), unsafe.Slice((*byte)(src), bytes))
	cu.MemcpyHtoDAsync(dst, at, bytes, 0)
	b.stagedOff += (bytes + 255) &^ 255
}

// download copies bytes from the device to host memory at dst, waiting for all queued work.
func (b *Backend) download(dst unsafe.Pointer, src cu.DevicePtr, bytes int64) {
	b.cnt.Downloads++
	b.cnt.Syncs++
	cu.MemcpyDtoH(dst, src, bytes)
	b.stagedOff = 0
}

// dtod queues a device-to-device copy.
func (b *Backend) dtod(dst, src cu.DevicePtr, bytes int64) {
	b.cnt.DevCopies++
	cu.MemcpyDtoDAsync(dst, src, bytes, 0)
}
