package main

// Where the grid goes: a folder of its own (default runs/samples-<time>) or a named .png file,
// never over an existing file unless -force.

import (
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/internal/atomicfile"
)

// promptsFile lists the grid's rows, one prompt a line, beside a grid written into a folder.
const promptsFile = "prompts.txt"

// output is where one grid (and, in folder mode, its prompts) is written.
type output struct {
	grid, prompts string // prompts is "" when -out names the grid file
}

// newOutput resolves -out for a grid called name and checks, before any work, that nothing
// would be overwritten (unless force).
func newOutput(out, name string, force bool) (output, error) {
	if out == "" {
		out = freshFolder(filepath.Join("runs", "samples-"+time.Now().Format("20060102-150405")))
	}
	var o output
	if strings.EqualFold(filepath.Ext(out), ".png") {
		o.grid = out
	} else {
		o.grid, o.prompts = filepath.Join(out, name), filepath.Join(out, promptsFile)
	}
	for _, p := range []string{o.grid, o.prompts} {
		if p == "" {
			continue
		}
		if err := checkFree(p, force); err != nil {
			return o, err
		}
	}
	return o, nil
}

// freshFolder is dir, or dir-2, dir-3, … when that exists (two runs in the same second).
func freshFolder(dir string) string {
	name := dir
	for i := 2; ; i++ {
		if _, err := os.Stat(name); errors.Is(err, os.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s-%d", dir, i)
	}
}

// checkFree fails when path exists and force is off.
func checkFree(path string, force bool) error {
	if _, err := os.Stat(path); err == nil && !force {
		return fmt.Errorf("%s already exists: choose another -out (or -export) or add -force to overwrite it", path)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// write saves the grid and the prompts of its rows.
func (o output) write(grid image.Image, rows []string) error {
	if err := os.MkdirAll(filepath.Dir(o.grid), 0o755); err != nil {
		return err
	}
	if err := diffusion.SavePNG(o.grid, grid); err != nil {
		return err
	}
	if o.prompts == "" {
		return nil
	}
	return atomicfile.Write(o.prompts, func(w io.Writer) error {
		for _, p := range rows {
			if _, err := fmt.Fprintln(w, p); err != nil {
				return err
			}
		}
		return nil
	})
}
