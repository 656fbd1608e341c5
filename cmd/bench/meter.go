package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of /proc/stat: USER_HZ is 100 on Linux.
const userHZ = 100

// cpuSample is the machine's cumulative CPU time in jiffies, from the
// first line of /proc/stat.
type cpuSample struct {
	busy, total int64
}

// readCPU parses /proc/stat. Busy is user+nice+system+irq+softirq; steal
// (time the hypervisor gave to others) counts towards the total only.
func readCPU(procStat []byte) (cpuSample, error) {
	line, _, _ := strings.Cut(string(procStat), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuSample{}, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	var v [8]int64
	for i := range v {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return cpuSample{}, fmt.Errorf("/proc/stat: %w", err)
		}
		v[i] = n
	}
	const user, nice, system, idle, iowait, irq, softirq, steal = 0, 1, 2, 3, 4, 5, 6, 7
	busy := v[user] + v[nice] + v[system] + v[irq] + v[softirq]
	return cpuSample{busy: busy, total: busy + v[idle] + v[iowait] + v[steal]}, nil
}

// meterSample is everything a meter reads at the start and end of a phase.
type meterSample struct {
	cpu       cpuSample
	cpuOK     bool
	self      time.Duration // this process's user+system time
	procs     time.Duration // the system's processes' user+system time
	procsOK   bool
	flushes   int64
	flushesOK bool
}

// meter measures machine-wide CPU, this process's CPU and the disk's
// cache flushes over a measured phase.
type meter struct {
	dataDir    string // whose block device's flushes are counted
	pids       []int  // the system's processes, when it has its own
	start, end meterSample
}

func (m *meter) sample() meterSample {
	var s meterSample
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		s.cpu, err = readCPU(b)
		s.cpuOK = err == nil
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if len(m.pids) > 0 {
		s.procs, s.procsOK = processesCPU(m.pids)
	}
	s.flushes, s.flushesOK = diskFlushes(m.dataDir)
	return s
}

// Start and Stop delimit the measured phase.
func (m *meter) Start() { m.start = m.sample() }
func (m *meter) Stop()  { m.end = m.sample() }

// fill sets r's CPU and flush figures from the phase between Start and
// Stop.
func (m *meter) fill(r *Result) {
	end := m.end
	if r.Ops == 0 {
		return
	}
	ops := float64(r.Ops)
	if m.start.cpuOK && end.cpuOK && end.cpu.total > m.start.cpu.total {
		busy := float64(end.cpu.busy - m.start.cpu.busy)
		r.CPUMicrosPerOp = busy * (1e6 / userHZ) / ops
		r.CPUUtilPercent = 100 * busy / float64(end.cpu.total-m.start.cpu.total)
	}
	self := end.self - m.start.self
	r.ClientCPUMicrosPerOp = float64(self.Microseconds()) / ops
	if m.start.procsOK && end.procsOK {
		r.ProcessCPUMicrosPerOp = float64((end.procs - m.start.procs + self).Microseconds()) / ops
	}
	if m.start.flushesOK && end.flushesOK {
		r.FlushesPerOp = float64(end.flushes-m.start.flushes) / ops
	}
}

// processesCPU sums the user and system time of pids, from
// /proc/PID/stat (in USER_HZ ticks).
func processesCPU(pids []int) (time.Duration, bool) {
	var total time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, false
		}
		ticks, err := processTicks(b)
		if err != nil {
			return 0, false
		}
		total += time.Duration(ticks) * time.Second / userHZ
	}
	return total, true
}

// processTicks returns utime+stime (fields 14 and 15) of a /proc/PID/stat
// line. The command name (field 2) may hold spaces and parentheses, so
// fields are counted from its closing parenthesis.
func processTicks(stat []byte) (int64, error) {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/PID/stat %q", s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/PID/stat %q", s)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/PID/stat times: %q", s)
	}
	return utime + stime, nil
}

// diskFlushes returns the completed flush requests (field 16 of
// /sys/dev/block/MAJ:MIN/stat) of the block device that holds dir. The
// count is machine-wide: any other I/O on that disk is included.
func diskFlushes(dir string) (int64, bool) {
	var st syscall.Stat_t
	if dir == "" || syscall.Stat(dir, &st) != nil {
		return 0, false
	}
	major := (st.Dev >> 8) & 0xfff
	minor := (st.Dev & 0xff) | ((st.Dev >> 12) & 0xfff00)
	b, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/stat", major, minor))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 16 {
		return 0, false
	}
	n, err := strconv.ParseInt(f[15], 10, 64)
	return n, err == nil
}
