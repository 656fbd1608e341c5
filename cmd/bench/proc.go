package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopTimeout is how long a child gets to exit after SIGTERM before it is
// killed.
const stopTimeout = 10 * time.Second

// child is a process bench started (a node, or a nats-server member).
// Its stdout and stderr go to a log file, shown when it fails.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// startChild starts bin with args, logging to logPath. The child is
// killed if bench dies (Pdeathsig), so no member outlives a killed run.
func startChild(name, logPath, bin string, args ...string) (*child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	c := &child{name: name, logPath: logPath, done: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		logFile.Close()
		close(c.done)
	}()
	return c, nil
}

// exited reports whether the child has exited, with its log tail.
func (c *child) exited() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited (%v); log:\n%s", c.name, c.waitErr, tailFile(c.logPath, 2000))
	default:
		return nil
	}
}

// childPIDs returns the process IDs of children.
func childPIDs(children []*child) []int {
	pids := make([]int, len(children))
	for i, c := range children {
		pids[i] = c.cmd.Process.Pid
	}
	return pids
}

// stopChildren sends SIGTERM to every child, waits up to stopTimeout for
// them all, then kills the rest.
func stopChildren(children []*child) error {
	for _, c := range children {
		if c.exited() == nil {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(stopTimeout)
	var errs []error
	for _, c := range children {
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-c.done:
		case <-timer.C:
			errs = append(errs, fmt.Errorf("%s did not stop within %v: killed", c.name, stopTimeout))
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		timer.Stop()
	}
	return errors.Join(errs...)
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. They are free
// when checked; a process started right after normally gets them.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
