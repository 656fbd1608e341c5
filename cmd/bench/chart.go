package main

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// chart is a line chart rendered as inline SVG: no script, no network.
type chart struct {
	title, xLabel, yLabel string
	xTicks, yTicks        []tick
	xMin, xMax            float64
	yMin, yMax            float64
	logY                  bool
	series                []series
}

type tick struct {
	at    float64
	label string
}

type series struct {
	name   string
	points [][2]float64
}

// palette colours the series in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// Plot area inside the SVG, in pixels.
const (
	chartWidth, chartHeight           = 560, 320
	plotLeft, plotRight               = 70, 525
	plotTop, plotBottom               = 30, 270
	legendLineHeight, axisLabelOffset = 16, 40
)

func (c chart) x(v float64) float64 {
	return plotLeft + (v-c.xMin)/(c.xMax-c.xMin)*(plotRight-plotLeft)
}

func (c chart) y(v float64) float64 {
	lo, hi, v := c.yMin, c.yMax, v
	if c.logY {
		lo, hi, v = math.Log10(lo), math.Log10(hi), math.Log10(math.Max(v, c.yMin))
	}
	return plotBottom - (v-lo)/(hi-lo)*(plotBottom-plotTop)
}

// svg renders the chart.
func (c chart) svg() template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartWidth, chartHeight, chartWidth, chartHeight, html.EscapeString(c.title))
	fmt.Fprintf(&b, `<text x="%d" y="18" class="title">%s</text>`, plotLeft, html.EscapeString(c.title))
	c.axes(&b)
	for i, s := range c.series {
		c.line(&b, s, palette[i%len(palette)])
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="legend" fill="%s">%s</text>`, plotLeft+10,
			plotTop+12+i*legendLineHeight, palette[i%len(palette)], html.EscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // safe: every text in it is escaped
}

func (c chart) axes(b *strings.Builder) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" class="frame"/>`, plotLeft, plotTop, plotRight-plotLeft, plotBottom-plotTop)
	for _, t := range c.xTicks {
		x := c.x(t.at)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="grid"/>`, x, plotTop, x, plotBottom)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" class="tick" text-anchor="middle">%s</text>`, x, plotBottom+16, html.EscapeString(t.label))
	}
	for _, t := range c.yTicks {
		y := c.y(t.at)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/>`, plotLeft, y, plotRight, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>`, plotLeft-6, y+4, html.EscapeString(t.label))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" class="axis" text-anchor="middle">%s</text>`, (plotLeft+plotRight)/2, plotBottom+axisLabelOffset-6, html.EscapeString(c.xLabel))
	fmt.Fprintf(b, `<text x="14" y="%d" class="axis" text-anchor="middle" transform="rotate(-90 14 %d)">%s</text>`,
		(plotTop+plotBottom)/2, (plotTop+plotBottom)/2, html.EscapeString(c.yLabel))
}

func (c chart) line(b *strings.Builder, s series, color string) {
	if len(s.points) == 0 {
		return
	}
	b.WriteString(`<polyline fill="none" stroke-width="1.8" stroke="` + color + `" points="`)
	for _, p := range s.points {
		fmt.Fprintf(b, "%.1f,%.1f ", c.x(p[0]), c.y(p[1]))
	}
	b.WriteString(`"/>`)
}

// percentileChart plots latency against percentile, the percentile axis
// in "nines" so the tail gets the room.
func percentileChart(title string, results []Result) chart {
	c := chart{title: title, xLabel: "percentile", yLabel: "latency", logY: true, xMax: 2, yMin: math.Inf(1)}
	for _, r := range results {
		s := series{name: r.System}
		for i, p := range r.Curve {
			x := nines(p.Percentile)
			if p.Percentile >= 100 && i > 0 {
				// The maximum: just right of the last resolved percentile.
				x = math.Min(s.points[i-1][0]+0.3, maxNines)
			}
			s.points = append(s.points, [2]float64{x, math.Max(p.Micros, 1)})
			c.xMax = math.Max(c.xMax, math.Ceil(x))
			c.yMin, c.yMax = math.Min(c.yMin, math.Max(p.Micros, 1)), math.Max(c.yMax, p.Micros)
		}
		c.series = append(c.series, s)
	}
	if math.IsInf(c.yMin, 1) {
		c.yMin, c.yMax = 1, 10
	}
	c.yMin, c.yMax = logFloor(c.yMin), logCeil(c.yMax)
	for n := 0.0; n <= c.xMax; n++ {
		c.xTicks = append(c.xTicks, tick{n, ninesLabel(n)})
	}
	c.yTicks = latencyTicks(c.yMin, c.yMax)
	return c
}

// maxNines caps the percentile axis (the 100th percentile is drawn there).
const maxNines = 6

func nines(percentile float64) float64 {
	if percentile >= 100 {
		return maxNines
	}
	return math.Min(-math.Log10(1-percentile/100), maxNines)
}

func ninesLabel(n float64) string {
	if n == 0 {
		return "0%"
	}
	return strings.TrimSuffix(fmt.Sprintf("%.*f", max(int(n)-2, 0), 100*(1-math.Pow(10, -n))), ".") + "%"
}

func logFloor(v float64) float64 { return math.Pow(10, math.Floor(math.Log10(v))) }
func logCeil(v float64) float64  { return math.Pow(10, math.Ceil(math.Log10(math.Max(v, 1.0001)))) }

// latencyTicks labels 1, 2 and 5 times each power of ten between lo and hi
// (microseconds).
func latencyTicks(lo, hi float64) []tick {
	var ticks []tick
	for p := lo; p <= hi*1.0001; p *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := p * m; v <= hi*1.0001 {
				ticks = append(ticks, tick{v, micros(v)})
			}
		}
	}
	return ticks
}

func micros(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gs", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gms", v/1e3)
	}
	return fmt.Sprintf("%gµs", v)
}

// throughputChart plots completions per second over the measured phase.
func throughputChart(title string, results []Result) chart {
	c := chart{title: title, xLabel: "seconds since the start of the measured phase", yLabel: "ops/s", xMax: 1, yMax: 1}
	for _, r := range results {
		s := series{name: r.System}
		for i, v := range r.Throughput {
			x := (float64(i) + 0.5) * r.IntervalSeconds
			s.points = append(s.points, [2]float64{x, v})
			c.xMax, c.yMax = math.Max(c.xMax, float64(i+1)*r.IntervalSeconds), math.Max(c.yMax, v)
		}
		c.series = append(c.series, s)
	}
	step := niceStep(c.yMax / 5)
	c.yMax = math.Ceil(c.yMax*1.05/step) * step
	for v := 0.0; v <= c.yMax; v += step {
		c.yTicks = append(c.yTicks, tick{v, fmt.Sprintf("%g", v)})
	}
	xStep := niceStep(c.xMax / 8)
	for v := 0.0; v <= c.xMax+1e-9; v += xStep {
		c.xTicks = append(c.xTicks, tick{v, fmt.Sprintf("%g", math.Round(v*100)/100)})
	}
	return c
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}
