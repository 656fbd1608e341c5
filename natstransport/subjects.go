package natstransport

import (
	"strconv"
	"strings"

	"github.com/natsraft/natsraft/raft"
)

// Every NATS subject the transport uses is built here, from these constants.
//
//	natsraft.<cluster>.raft.<group>.<node>.<lane>
//
// <cluster> and <group> are names (letters, digits, '-' and '_'), <node> is
// the decimal node ID of the destination and <lane> one of ctrl, app, snap.
const (
	// SubjectPattern documents the layout of every Raft subject.
	SubjectPattern = "natsraft.<cluster>.raft.<group>.<node>.<lane>"

	subjectRoot   = "natsraft"
	subjectRaft   = "raft"
	subjectSep    = "."
	subjectAny    = "*"
	subjectAnyAll = ">"

	laneTokenControl  = "ctrl"
	laneTokenAppend   = "app"
	laneTokenSnapshot = "snap"

	// nameBytesMax bounds a cluster or group name (it appears in every
	// subject and every envelope).
	nameBytesMax = 64
)

// Lane is one of the three independent streams between two nodes. Each lane
// has its own subject and its own subscription (and so its own delivery
// goroutine in the NATS client), so bulk traffic never delays control traffic.
type Lane uint8

const (
	// LaneControl carries heartbeats, votes, pre-votes, TimeoutNow, ReadIndex
	// and leadership-transfer requests, plus snapshot acknowledgements: small
	// messages whose delay causes elections.
	LaneControl Lane = iota
	// LaneAppend carries MsgApp, MsgAppResp and forwarded proposals (MsgProp).
	LaneAppend
	// LaneSnapshot carries snapshot chunks (MsgSnap, split and reassembled).
	LaneSnapshot
	// LaneCount is the number of lanes.
	LaneCount
)

var laneTokens = [LaneCount]string{laneTokenControl, laneTokenAppend, laneTokenSnapshot}

// String returns the lane's subject token.
func (l Lane) String() string {
	if l < LaneCount {
		return laneTokens[l]
	}
	return "lane(" + strconv.Itoa(int(l)) + ")"
}

// LaneOf returns the lane a message of type t travels on. Local types, which
// never leave a node, report ok == false.
func LaneOf(t raft.MessageType) (lane Lane, ok bool) {
	switch t {
	case raft.MsgApp, raft.MsgAppResp, raft.MsgProp:
		return LaneAppend, true
	case raft.MsgSnap:
		return LaneSnapshot, true
	case raft.MsgHeartbeat, raft.MsgHeartbeatResp, raft.MsgVote, raft.MsgVoteResp,
		raft.MsgPreVote, raft.MsgPreVoteResp, raft.MsgTimeoutNow, raft.MsgTransferLeader,
		raft.MsgReadIndex, raft.MsgReadIndexResp:
		return LaneControl, true
	}
	return 0, false
}

// Subject returns the subject on which node receives lane traffic of group.
func Subject(cluster, group string, node uint64, lane Lane) string {
	var b strings.Builder
	b.Grow(len(subjectRoot) + len(cluster) + len(subjectRaft) + len(group) + 20 + 5)
	b.WriteString(subjectRoot + subjectSep)
	b.WriteString(cluster)
	b.WriteString(subjectSep + subjectRaft + subjectSep)
	b.WriteString(group)
	b.WriteString(subjectSep)
	b.WriteString(strconv.FormatUint(node, 10))
	b.WriteString(subjectSep)
	b.WriteString(lane.String())
	return b.String()
}

// PublishPermission is the subject filter a node's NATS user must be allowed
// to publish on: every Raft subject of its cluster.
func PublishPermission(cluster string) string {
	return subjectRoot + subjectSep + cluster + subjectSep + subjectRaft + subjectSep + subjectAnyAll
}

// SubscribePermission is the subject filter a node's NATS user must be
// allowed to subscribe to: its own lanes in every group of its cluster.
func SubscribePermission(cluster string, node uint64) string {
	return subjectRoot + subjectSep + cluster + subjectSep + subjectRaft + subjectSep +
		subjectAny + subjectSep + strconv.FormatUint(node, 10) + subjectSep + subjectAny
}

// validName reports whether s can be a cluster or group token of a subject.
func validName(s string) bool {
	if s == "" || len(s) > nameBytesMax {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		isAlnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !isAlnum && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
