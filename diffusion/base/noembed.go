//go:build noembedbase

package base

// Built with -tags noembedbase the binary leaves the model out (18.7 MB smaller), for a machine
// that receives the binary beside a checkout and reads the model from it with -model; see
// tools/paper_gpu.sh, whose device calls limit what they carry.
var checkpoint []byte
