// Package raft is the consensus core of natsraft.
package raft
