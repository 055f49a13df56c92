package nn

// Checksums of the tensors of the files flowtune writes (SaveTensors): one CRC-32C per tensor
// over its stored bytes, kept in the metadata under MetaChecksums as a JSON object from tensor
// name to eight hex digits. Reading a tensor verifies its checksum when the file has one, so a
// flipped bit in a checkpoint is an error naming the file and the tensor instead of a weight of
// 5e35 that trains on. Files without checksums (other writers, older flowtune) read as before.

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"strconv"
)

// MetaChecksums is the metadata key of the per-tensor checksums.
const MetaChecksums = "flowtune.crc32c"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// checksum is the CRC-32C of data as stored in a file of the given dtype (little-endian
// elements, rounded as encodeSafetensorsData rounds them).
func checksum(data []float32, dtype string) uint32 {
	esize := int(safetensorsDTypeSize[dtype])
	buf := make([]byte, esize*4096)
	crc := uint32(0)
	for len(data) > 0 {
		k := min(len(data), 4096)
		encodeSafetensorsData(buf, data[:k], dtype)
		crc = crc32.Update(crc, crcTable, buf[:esize*k])
		data = data[k:]
	}
	return crc
}

// checksumMeta renders the checksums of tensors stored as dtype as the MetaChecksums value.
func checksumMeta(tensors map[string]HostTensor, dtype string) string {
	sums := make(map[string]string, len(tensors))
	for name, t := range tensors {
		sums[name] = fmt.Sprintf("%08x", checksum(t.Data, dtype))
	}
	b, err := json.Marshal(sums) // sorted keys: deterministic
	if err != nil {
		panic(err) // a map of strings always encodes
	}
	return string(b)
}

// parseChecksums reads the MetaChecksums value of a file's metadata: nil without one.
func parseChecksums(path string, meta map[string]string, infos map[string]SafetensorsInfo) (map[string]uint32, error) {
	raw, ok := meta[MetaChecksums]
	if !ok {
		return nil, nil
	}
	var hex map[string]string
	if err := json.Unmarshal([]byte(raw), &hex); err != nil {
		return nil, safetensorsErrorf(path, "", "metadata %s is not a JSON object of checksums (the file is damaged): %v", MetaChecksums, err)
	}
	out := make(map[string]uint32, len(hex))
	for name, h := range hex {
		if _, ok := infos[name]; !ok {
			return nil, safetensorsErrorf(path, name, "has a checksum in %s but is not in the file (the file is damaged)", MetaChecksums)
		}
		v, err := strconv.ParseUint(h, 16, 32)
		if err != nil || len(h) != 8 {
			return nil, safetensorsErrorf(path, name, "checksum %q in %s is not 8 hex digits (the file is damaged)", h, MetaChecksums)
		}
		out[name] = uint32(v)
	}
	return out, nil
}

// Checksummed reports whether every tensor of the file has a checksum, so that reading it
// verifies every byte of the data.
func (f *SafetensorsFile) Checksummed() bool {
	if f.sums == nil {
		return false
	}
	for _, name := range f.names {
		if _, ok := f.sums[name]; !ok {
			return false
		}
	}
	return true
}
