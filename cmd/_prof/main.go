package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/tensor"
)

func main() {
	m, _, err := diffusion.LoadModel(tensor.CPU(), os.Args[1])
	if err != nil {
		panic(err)
	}
	tok := world.NewTokenizer(0)
	ps := []string{"a red circle left of a blue square", "two green triangles"}
	var prompts []string
	for i := 0; i < 16; i++ {
		prompts = append(prompts, ps[i%2])
	}
	so := diffusion.SampleOptions{PerPrompt: 2, Steps: 10, CFG: 4.5, Seed: 1}
	diffusion.SamplePrompts(m, tok, prompts[:2], so)
	f, _ := os.Create(os.Args[2])
	pprof.StartCPUProfile(f)
	t := time.Now()
	diffusion.SamplePrompts(m, tok, prompts, so)
	pprof.StopCPUProfile()
	fmt.Println("32 images:", time.Since(t))
}
