package server

import (
	"hash/fnv"
	"strings"
)

// validName reports whether name can be a member or cluster name: it
// appears in NATS subjects, so it must be one subject token.
func validName(name string) bool {
	return name != "" && len(name) <= 64 && strings.Trim(name,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}

// NodeID maps a member's name (n1, db-2, ...) to its Raft ID: the 64-bit
// FNV-1a hash of the name, so every node derives the same ID from a name
// without coordination. Zero is reserved for "none" and never returned.
func NodeID(name string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	if id := h.Sum64(); id != 0 {
		return id
	}
	return 1
}
