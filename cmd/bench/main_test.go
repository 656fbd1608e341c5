package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for bench when a test starts
// child processes (the JetStream members are copies of os.Executable).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "js-member" {
		root := newRootCommand()
		root.SetArgs(os.Args[1:])
		if err := root.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
