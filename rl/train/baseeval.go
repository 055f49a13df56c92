package train

// The base model's evaluation, shared by the runs of a comparison.
//
// Every run of a comparison starts from the same base model and evaluates it at step 0 on the
// same held-out prompts under the same noise (the noise depends on eval_seed only, never on the
// run's seed), and a fresh LoRA adapter changes nothing (its B is zero). So the step-0 images of
// all runs are the same images. With Trainer.BaseEvalDir set, the first run samples them and
// stores them there; the others read them back and only score them. With nine runs of five
// evaluations each, that removes eight of the 45 evaluations, which are most of a comparison's
// time on the CPU.
//
// The images are stored under a key that hashes everything they depend on: the base weights,
// the prompts, the seeds, the sampler's steps, guidance and batch, the latent shape, the
// backend and the CUDA backend's precision settings. Rewards are not in the key: each run
// scores the stored images afresh. A file that is unreadable or does not match its key is
// sampled again and replaced, never used. A resumed run does not share (it computes no key).

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"os"
	"path/filepath"

	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/nn"
)

// baseEvalMagic starts a stored base evaluation; the version changes with the format or with
// anything in the sampler that the key does not cover.
const baseEvalMagic = "flowtune base-eval images v1\n"

// baseEvalKey is the hex SHA-256 of what the step-0 evaluation images depend on. params are
// the base model's weights, before any adapter is added.
func baseEvalKey(r *run, params []nn.Named) string {
	h := sha256.New()
	put := func(vs ...any) {
		for _, v := range vs {
			switch v := v.(type) {
			case string:
				binary.Write(h, binary.LittleEndian, uint64(len(v)))
				h.Write([]byte(v))
			default:
				binary.Write(h, binary.LittleEndian, v)
			}
		}
	}
	cfg := r.cfg
	lat := r.pipe.Latent()
	// The CUDA backend's numerics follow these settings (cuda.OptionsFromEnv).
	put(os.Getenv("FLOWTUNE_CUDA_MATMUL"), os.Getenv("FLOWTUNE_CUDA_ATTENTION"), os.Getenv("FLOWTUNE_CUDA_LEGACY"))
	put(baseEvalMagic, r.pipe.Backend().Name(), int64(lat[0]), int64(lat[1]), int64(lat[2]),
		int64(cfg.EvalSeeds), cfg.EvalSeed, int64(cfg.EvalSteps), cfg.EvalCFG, int64(evalBatch))
	put(int64(len(r.eval.prompts)))
	for _, p := range r.eval.prompts {
		put(p)
	}
	put(int64(len(params)))
	for _, p := range params {
		put(p.Name)
		shape := p.P.Shape()
		put(int64(len(shape)))
		for _, d := range shape {
			put(int64(d))
		}
		put(p.P.Data())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// baseEvalPath is the file of key in dir.
func baseEvalPath(dir, key string) string {
	return filepath.Join(dir, "base-eval-"+key[:16]+".bin")
}

// encodeBaseEval lays out the images (all of one size) after the magic and the key, with a
// CRC-32C of everything before it at the end.
func encodeBaseEval(key string, imgs []*image.RGBA) ([]byte, error) {
	if len(imgs) == 0 {
		return nil, errors.New("base evaluation: no images to store")
	}
	w, h := imgs[0].Rect.Dx(), imgs[0].Rect.Dy()
	var buf bytes.Buffer
	buf.WriteString(baseEvalMagic)
	buf.WriteString(key)
	binary.Write(&buf, binary.LittleEndian, [3]uint32{uint32(len(imgs)), uint32(w), uint32(h)})
	for i, im := range imgs {
		if im.Rect.Dx() != w || im.Rect.Dy() != h {
			return nil, fmt.Errorf("base evaluation: image %d is %dx%d, image 0 %dx%d", i, im.Rect.Dx(), im.Rect.Dy(), w, h)
		}
		for y := 0; y < h; y++ {
			o := im.PixOffset(im.Rect.Min.X, im.Rect.Min.Y+y)
			buf.Write(im.Pix[o : o+4*w])
		}
	}
	binary.Write(&buf, binary.LittleEndian, crc32.Checksum(buf.Bytes(), castagnoli))
	return buf.Bytes(), nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// decodeBaseEval reads a stored base evaluation, checking its magic, key, size and checksum.
func decodeBaseEval(data []byte, key string) ([]*image.RGBA, error) {
	head := len(baseEvalMagic) + len(key) + 12
	if len(data) < head+4 {
		return nil, fmt.Errorf("truncated (%d bytes)", len(data))
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errors.New("checksum mismatch (a corrupt or partly written file)")
	}
	if string(body[:len(baseEvalMagic)]) != baseEvalMagic {
		return nil, errors.New("not a flowtune base evaluation of this version")
	}
	if got := string(body[len(baseEvalMagic) : len(baseEvalMagic)+len(key)]); got != key {
		return nil, fmt.Errorf("key %.16s… is not this run's %.16s…", got, key)
	}
	dim := func(i int) int { return int(binary.LittleEndian.Uint32(body[head-12+4*i:])) }
	n, w, h := dim(0), dim(1), dim(2)
	size := 4 * w * h
	if n <= 0 || w <= 0 || h <= 0 || len(body)-head != n*size || n*size/n != size {
		return nil, fmt.Errorf("%d images of %dx%d do not fill its %d bytes of pixels", n, w, h, len(body)-head)
	}
	imgs := make([]*image.RGBA, n)
	for i := range imgs {
		imgs[i] = image.NewRGBA(image.Rect(0, 0, w, h))
		copy(imgs[i].Pix, body[head+i*size:head+(i+1)*size])
	}
	return imgs, nil
}

// baseEvalImages returns the step-0 evaluation images: read from the shared directory when a
// valid file of this run's key is there, else sampled and stored there for the runs after it.
// shared reports whether they were read.
func (r *run) baseEvalImages(sample func() ([]*image.RGBA, error)) (imgs []*image.RGBA, shared bool, err error) {
	path := baseEvalPath(r.t.BaseEvalDir, r.baseEvalKey)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		imgs, err := decodeBaseEval(data, r.baseEvalKey)
		if err == nil && len(imgs) == r.eval.images() {
			return imgs, true, nil
		}
		if err == nil {
			err = fmt.Errorf("%d images, this evaluation has %d", len(imgs), r.eval.images())
		}
		r.t.Log.Warn().Str("file", path).Err(err).Msg("the shared base evaluation is unusable; sampling it again")
	case !errors.Is(err, os.ErrNotExist):
		r.t.Log.Warn().Str("file", path).Err(err).Msg("cannot read the shared base evaluation; sampling it again")
	}
	if imgs, err = sample(); err != nil {
		return nil, false, err
	}
	enc, err := encodeBaseEval(r.baseEvalKey, imgs)
	if err == nil {
		if err = os.MkdirAll(r.t.BaseEvalDir, 0o755); err == nil {
			err = atomicfile.WriteBytes(path, enc)
		}
	}
	if err != nil { // the run can go on: the next one samples again
		r.t.Log.Warn().Str("file", path).Err(err).Msg("cannot store the base evaluation for the other runs")
	}
	return imgs, false, nil
}
