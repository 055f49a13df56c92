package reward

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
)

// JPEGQuality is the quality DDPO encodes at.
const JPEGQuality = 95

// JPEGSize is the size in kB (1000 bytes) of img encoded as a JPEG at JPEGQuality with the
// standard library's encoder.
func JPEGSize(img image.Image) (float64, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: JPEGQuality}); err != nil {
		return 0, err
	}
	return float64(buf.Len()) / 1000, nil
}

// jpegReward is DDPO's JPEG compressibility: minus the JPEG size in kB, so flatter, simpler
// images score higher. It ignores the prompt.
type jpegReward struct{}

func (jpegReward) Name() string { return "jpeg" }

func (jpegReward) Score(_ string, img image.Image) (float64, error) {
	kb, err := JPEGSize(img)
	if err != nil {
		return 0, fmt.Errorf("reward jpeg: %v", err)
	}
	return -kb, nil
}
