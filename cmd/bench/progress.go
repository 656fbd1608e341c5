package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressInterval is how often the bar and its live ops/s refresh.
const progressInterval = 250 * time.Millisecond

// progress shows the measured phase on a terminal: a bar (requests of
// seq, time of the others) and the live ops/s of the last interval.
type progress struct {
	bar   *progressbar.ProgressBar
	live  *atomic.Int64
	spec  Spec
	label string
	stop  chan struct{}
	done  chan struct{}
}

// progressWanted decides whether to show bars: "on", "off", or "auto"
// (when stdout is a terminal and the output is for people).
func progressWanted(mode, output string) (bool, error) {
	switch mode {
	case "on":
		return true, nil
	case "off":
		return false, nil
	case "auto":
		return output == "text" && term.IsTerminal(int(os.Stdout.Fd())), nil
	}
	return false, fmt.Errorf("--progress %q: want auto, on or off", mode)
}

// startProgress starts the display on w; stop it with finish.
func startProgress(w io.Writer, label string, spec Spec, live *atomic.Int64) *progress {
	max := spec.Duration.Milliseconds()
	if spec.Kind == KindSeq {
		max = int64(spec.SeqOps)
	}
	p := &progress{live: live, spec: spec, label: label, stop: make(chan struct{}), done: make(chan struct{})}
	p.bar = progressbar.NewOptions64(max, progressbar.OptionSetWriter(w), progressbar.OptionSetWidth(30),
		progressbar.OptionSetDescription(label), progressbar.OptionSetPredictTime(false),
		progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(progressInterval/2))
	go p.run()
	return p
}

func (p *progress) run() {
	defer close(p.done)
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	start, last, lastAt := time.Now(), int64(0), time.Now()
	for {
		select {
		case <-p.stop:
			return
		case now := <-tick.C:
			n := p.live.Load()
			rate := float64(n-last) / now.Sub(lastAt).Seconds()
			last, lastAt = n, now
			p.bar.Describe(fmt.Sprintf("%s  %8.0f ops/s", p.label, rate))
			if p.spec.Kind == KindSeq {
				_ = p.bar.Set64(n)
			} else {
				_ = p.bar.Set64(min(now.Sub(start).Milliseconds(), p.bar.GetMax64()))
			}
		}
	}
}

// finish stops the display and clears it.
func (p *progress) finish() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
	_ = p.bar.Finish()
}
