package cuda

// StepProfiler brackets training steps [from, to] with cuProfilerStart / cuProfilerStop, for
// `nsys profile --capture-range=cudaProfilerApi --capture-range-end=stop`. Call Step(i) at
// the start of every step i and Stop when training ends. Made by ProfileSteps; on a non-CUDA
// backend (or a binary built without the cuda tag) it does nothing.
type StepProfiler struct {
	from, to    int
	on          bool
	start, stop func()
}

// Step tells the profiler that step i begins: capture starts at from and stops when to is done.
func (p *StepProfiler) Step(i int) {
	if p == nil || p.start == nil {
		return
	}
	if p.on && i > p.to {
		p.stop()
		p.on = false
	}
	if !p.on && i >= p.from && i <= p.to {
		p.start()
		p.on = true
	}
}

// Stop ends a capture still running (training ended inside the range).
func (p *StepProfiler) Stop() {
	if p != nil && p.on {
		p.stop()
		p.on = false
	}
}

// Capturing reports whether the profiler is recording now.
func (p *StepProfiler) Capturing() bool { return p != nil && p.on }
