//go:build invariants || race

package store

// invariantsEnabled turns on the expensive self-checks (the full memLog
// check after every commit). Cheap safety checks always run.
const invariantsEnabled = true
