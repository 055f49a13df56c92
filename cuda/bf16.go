package cuda

import "math"

// bfloat16 conversion on the host, for Upload and Download of BFloat16 storages. The device
// kernels convert_f32_bf16 / convert_bf16_f32 apply the same rule.

// toBF16 rounds f to the nearest bfloat16 (ties to even); NaN stays a quiet NaN.
func toBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return 0x7fc0
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// fromBF16 widens a bfloat16 to float32 (exact).
func fromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }
