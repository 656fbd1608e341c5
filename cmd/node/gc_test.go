package main

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestGCPercentIs200UnlessGOGCIsSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "") // restored after the test
	os.Unsetenv("GOGC")
	setGCPercent()
	if got := debug.SetGCPercent(77); got != nodeGCPercent {
		t.Fatalf("without GOGC: GC percent %d, want %d", got, nodeGCPercent)
	}
	t.Setenv("GOGC", "50")
	setGCPercent()
	if got := debug.SetGCPercent(100); got != 77 {
		t.Fatalf("with GOGC set: GC percent changed to %d", got)
	}
}
