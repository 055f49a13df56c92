//go:build cuda

package cuda

import (
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"
)

// Counts tallies what the backend has asked of the driver since it opened: the work that costs
// host time per call whatever the size of the problem. A small model is bound by these, not by
// the card, so they are what the launch-overhead work counts (see PhaseTable).
type Counts struct {
	Launches  int64 // kernel launches
	Uploads   int64 // host→device copies
	Downloads int64 // device→host copies (each waits for every queued launch)
	DevCopies int64 // device→device copies and memsets
	Syncs     int64 // host waits for the device: downloads, synchronous uploads, Synchronize, event waits
	Allocs    int64 // cuMemAlloc calls (storages the pool could not serve)
	Frees     int64 // cuMemFree calls
	PoolHits  int64 // storages served from the pool (no driver call)
}

func (c Counts) sub(o Counts) Counts {
	return Counts{c.Launches - o.Launches, c.Uploads - o.Uploads, c.Downloads - o.Downloads,
		c.DevCopies - o.DevCopies, c.Syncs - o.Syncs, c.Allocs - o.Allocs, c.Frees - o.Frees, c.PoolHits - o.PoolHits}
}

func (c Counts) add(o Counts) Counts {
	return Counts{c.Launches + o.Launches, c.Uploads + o.Uploads, c.Downloads + o.Downloads,
		c.DevCopies + o.DevCopies, c.Syncs + o.Syncs, c.Allocs + o.Allocs, c.Frees + o.Frees, c.PoolHits + o.PoolHits}
}

func (c Counts) String() string {
	return fmt.Sprintf("%d launches, %d syncs, %d uploads, %d downloads, %d d2d/memset, %d cuMemAlloc, %d cuMemFree, %d pool hits",
		c.Launches, c.Syncs, c.Uploads, c.Downloads, c.DevCopies, c.Allocs, c.Frees, c.PoolHits)
}

// Counts returns the backend's tallies so far.
func (b *Backend) Counts() Counts {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cnt
}

// LaunchBound implements tensor.LaunchBound: true, unless Options.Legacy asks for the
// behaviour from before the launch-overhead savings.
func (b *Backend) LaunchBound() bool { return !b.opt.Legacy }

// KernelCounts returns the launches so far per kernel name.
func (b *Backend) KernelCounts() map[string]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.perKernel)
}

// PhaseTable records, per named phase of a program (a training step's rollout, train, ...),
// how often it ran, its wall-clock time, its time on the device between two CUDA events, and
// the driver work it caused (Counts). Range has the signature of train.Trainer.Phase; phases
// may nest (each row is inclusive of the phases inside it). Write prints the table.
type PhaseTable struct {
	b     *Backend
	mu    sync.Mutex
	rows  map[string]*phaseRow
	order []string
}

type phaseRow struct {
	calls  int
	wall   time.Duration
	counts Counts
	events [][2]event // start/stop pairs, resolved by Write
	gpuMs  float64
}

// NewPhaseTable returns a table for backend b (a *Backend or the validating wrapper of one), or
// nil for any other backend; a nil table's Range does nothing.
func NewPhaseTable(b any) *PhaseTable {
	cb := asBackend(b)
	if cb == nil {
		return nil
	}
	return &PhaseTable{b: cb, rows: map[string]*phaseRow{}}
}

func asBackend(b any) *Backend {
	switch v := b.(type) {
	case *Backend:
		return v
	case *Validating:
		return v.gpu
	}
	return nil
}

// Range opens phase name and returns the function that closes it (on the same goroutine).
func (t *PhaseTable) Range(name string) (end func()) {
	if t == nil {
		return func() {}
	}
	var start event
	func() {
		defer t.b.exit(t.b.enter("phase"))
		start = newEvent()
		start.record()
	}()
	c0 := t.b.Counts()
	t0 := time.Now()
	return func() {
		wall := time.Since(t0)
		c := t.b.Counts().sub(c0)
		var stop event
		func() {
			defer t.b.exit(t.b.enter("phase"))
			stop = newEvent()
			stop.record()
		}()
		t.mu.Lock()
		defer t.mu.Unlock()
		r := t.rows[name]
		if r == nil {
			r = &phaseRow{}
			t.rows[name] = r
			t.order = append(t.order, name)
		}
		r.calls++
		r.wall += wall
		r.counts = r.counts.add(c)
		r.events = append(r.events, [2]event{start, stop})
	}
}

// resolve waits for the recorded events and adds up the device time of every phase.
func (t *PhaseTable) resolve() {
	defer t.b.exit(t.b.enter("phase table"))
	for _, r := range t.rows {
		for _, e := range r.events {
			e[1].sync()
			r.gpuMs += elapsedMs(e[0], e[1])
			e[0].destroy()
			e[1].destroy()
		}
		r.events = nil
	}
}

// Write prints one row per phase: calls, then per call the wall and device milliseconds and
// the driver work. The per-call device time is the span between the phase's first and last
// queued work as the device ran it; on the CPU emulator it means nothing.
func (t *PhaseTable) Write(w io.Writer) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.resolve()
	names := t.order
	fmt.Fprintf(w, "phase table (%s), per call:\n", t.b.info.Name)
	fmt.Fprintf(w, "%-12s %6s %10s %10s %9s %7s %7s %7s %7s %7s %7s\n", "phase", "calls", "wall ms", "gpu ms",
		"launches", "syncs", "h2d", "d2h", "d2d", "alloc", "free")
	for _, n := range names {
		r := t.rows[n]
		k := float64(r.calls)
		c := r.counts
		fmt.Fprintf(w, "%-12s %6d %10.3f %10.3f %9.1f %7.1f %7.1f %7.1f %7.1f %7.1f %7.1f\n", n, r.calls,
			float64(r.wall.Microseconds())/1e3/k, r.gpuMs/k, float64(c.Launches)/k, float64(c.Syncs)/k, float64(c.Uploads)/k, float64(c.Downloads)/k, float64(c.DevCopies)/k,
			float64(c.Allocs)/k, float64(c.Frees)/k)
	}
	fmt.Fprintln(w, strings.Repeat("-", 12)+" (rows are inclusive of nested phases; wall and gpu ms are means per call)")
	kc := t.b.KernelCounts()
	ks := make([]string, 0, len(kc))
	var total int64
	for k, n := range kc {
		ks = append(ks, k)
		total += n
	}
	sort.Slice(ks, func(i, j int) bool { return kc[ks[i]] > kc[ks[j]] || kc[ks[i]] == kc[ks[j]] && ks[i] < ks[j] })
	fmt.Fprintf(w, "launches since the backend opened: %d; the most launched kernels:", total)
	for i, k := range ks[:min(len(ks), 16)] {
		if i%4 == 0 {
			fmt.Fprint(w, "\n ")
		}
		fmt.Fprintf(w, " %s %d", k, kc[k])
	}
	fmt.Fprintln(w)
}
