//go:build !noembedbase

package base

import _ "embed"

//go:embed base.safetensors
var checkpoint []byte
