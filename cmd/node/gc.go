package main

import (
	"os"
	"runtime/debug"
)

// nodeGCPercent is the garbage collector's target unless GOGC is set.
// Under write load a node allocates per request (NATS messages, their
// headers, entries) over a heap that is mostly the key index, so the
// collector's work is proportional to the allocation rate over GOGC: at
// Go's default of 100 it was about a tenth of the leader's CPU, and 200
// gave 4% more writes/s with 5% less CPU per write on the reference
// benchmark (docs/benchmarks.md), for a heap of up to 3x the live data
// instead of 2x.
const nodeGCPercent = 200

// setGCPercent applies nodeGCPercent unless the environment chose.
func setGCPercent() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(nodeGCPercent)
	}
}
