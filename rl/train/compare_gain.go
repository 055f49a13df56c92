package train

// Each algorithm's gain over the base model, judged against the noise between seeds: per seed,
// the paired held-out change of its run (last evaluation − step-0 evaluation, the same prompts
// and noise, so prompt difficulty cancels), and a Student-t interval over the seeds. An interval
// that contains zero is reported as "within noise".

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// GainLevel is the coverage of the reported intervals.
const GainLevel = 0.95

// Gain is one algorithm's held-out change from the base model at the last common evaluation
// step, with a t-interval over seeds. CILow and CIHigh are absent with fewer than two seeds.
type Gain struct {
	Step    int       `json:"step"`     // the evaluation step the change is measured at
	PerSeed []float64 `json:"per_seed"` // each seed's paired change, in the order of the runs
	Mean    float64   `json:"mean"`
	// StdErr is the standard error of Mean over seeds, sd/√n; T is Mean/StdErr.
	StdErr float64  `json:"stderr"`
	T      float64  `json:"t"`
	CILow  *float64 `json:"ci_low,omitempty"`
	CIHigh *float64 `json:"ci_high,omitempty"`
	Level  float64  `json:"level"`
	// WithinNoise is true when the interval contains zero, or when there is no interval (one
	// seed): the change cannot be told from the noise between seeds.
	WithinNoise bool `json:"within_noise"`
}

// gainOf measures the change at step (the last evaluation all runs have) for every run.
func gainOf(rcs []*runCurve, step int) *Gain {
	g := &Gain{Step: step, Level: GainLevel, WithinNoise: true}
	for _, rc := range rcs {
		if j := slices.Index(rc.steps, step); j >= 0 {
			g.PerSeed = append(g.PerSeed, rc.reward[j]-rc.reward[0])
		}
	}
	if len(g.PerSeed) == 0 {
		return nil
	}
	var sd float64
	g.Mean, sd = meanStdOf(g.PerSeed)
	n := len(g.PerSeed)
	if n < 2 {
		return g
	}
	g.StdErr = sd / math.Sqrt(float64(n))
	half := tQuantile(0.5+GainLevel/2, n-1) * g.StdErr
	lo, hi := g.Mean-half, g.Mean+half
	g.CILow, g.CIHigh = &lo, &hi
	g.WithinNoise = lo <= 0 && hi >= 0
	if g.StdErr > 0 {
		g.T = g.Mean / g.StdErr
	}
	return g
}

// gainMarkdown is compare.md's section on the gains.
func (r *CompareReport) gainMarkdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Gain over the base model\n\nPer seed, the paired change of its run's evaluation (last evaluation − "+
		"step-0 evaluation, same prompts and noise); the mean over seeds with a %.0f%% Student-t interval over seeds. "+
		"Where the interval contains zero the gain cannot be told from the seed-to-seed noise.\n\n", 100*GainLevel)
	b.WriteString("| algorithm | step | gain (mean over seeds) | per seed | 95% interval | t | verdict |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, a := range r.Algos {
		g := a.Gain
		if g == nil {
			fmt.Fprintf(&b, "| %s | – | – | – | – | – | no runs yet |\n", a.Algo)
			continue
		}
		seeds := make([]string, len(g.PerSeed))
		for i, v := range g.PerSeed {
			seeds[i] = fmt.Sprintf("%+.4f", v)
		}
		ci, t, verdict := "– (one seed)", "–", "within noise (one seed: no interval)"
		if g.CILow != nil {
			ci, t = fmt.Sprintf("[%+.4f, %+.4f]", *g.CILow, *g.CIHigh), fmt.Sprintf("%.1f", g.T)
			verdict = "beyond noise"
			if g.WithinNoise {
				verdict = "within noise"
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %+.4f | %s | %s | %s | %s |\n", a.Algo, g.Step, g.Mean, strings.Join(seeds, ", "), ci, t, verdict)
	}
	return b.String()
}

// tQuantile is the p-quantile of Student's t distribution with df degrees of freedom (p in
// (0, 1), df ≥ 1), found by bisection on the distribution function.
func tQuantile(p float64, df int) float64 {
	if !(p > 0 && p < 1) || df < 1 {
		panic(fmt.Sprintf("train.tQuantile(%g, %d): p must be in (0,1) and df ≥ 1", p, df))
	}
	if p < 0.5 {
		return -tQuantile(1-p, df)
	}
	lo, hi := 0.0, 1.0
	for tCDF(hi, df) < p {
		hi *= 2
	}
	for i := 0; i < 200 && hi-lo > 1e-12*hi; i++ {
		mid := (lo + hi) / 2
		if tCDF(mid, df) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// tCDF is P(T ≤ t) for Student's t with df degrees of freedom:
// for t ≥ 0, 1 − ½·I_x(df/2, ½) with x = df/(df + t²), I the regularised incomplete beta.
func tCDF(t float64, df int) float64 {
	v := float64(df)
	tail := 0.5 * regIncBeta(v/2, 0.5, v/(v+t*t))
	if t >= 0 {
		return 1 - tail
	}
	return tail
}

// regIncBeta is the regularised incomplete beta function I_x(a, b), from its continued fraction
// (evaluated with the modified Lentz method) on whichever side of the mean converges fast.
func regIncBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a + b)
	lb, _ := math.Lgamma(a)
	lc, _ := math.Lgamma(b)
	front := math.Exp(la - lb - lc + a*math.Log(x) + b*math.Log(1-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(a, b, x) / a
	}
	return 1 - front*betaCF(b, a, 1-x)/b
}

// betaCF evaluates the continued fraction of the incomplete beta function,
// 1/(1+ d1/(1+ d2/(1+ …))) with d_{2m+1} = −(a+m)(a+b+m)x/((a+2m)(a+2m+1)) and
// d_{2m} = m(b−m)x/((a+2m−1)(a+2m)).
func betaCF(a, b, x float64) float64 {
	const tiny = 1e-300
	c, d := 1.0, 1-(a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 300; m++ {
		fm := float64(m)
		for _, num := range []float64{
			fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm)),
			-(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1)),
		} {
			d = 1 + num*d
			if math.Abs(d) < tiny {
				d = tiny
			}
			c = 1 + num/c
			if math.Abs(c) < tiny {
				c = tiny
			}
			d = 1 / d
			h *= d * c
		}
		if math.Abs(d*c-1) < 1e-15 {
			break
		}
	}
	return h
}
