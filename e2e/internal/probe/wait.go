package probe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/natsraft/natsraft/server"
)

// Until polls cond every PollInterval until it reports done, returns an
// error, or timeout passes; the timeout error carries what cond last saw.
func Until(ctx context.Context, timeout time.Duration, what string, cond func(ctx context.Context) (done bool, seen string, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	var seen string
	for {
		done, s, err := cond(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if done {
			return nil
		}
		if s != "" && ctx.Err() == nil { // not what a cancelled poll saw
			seen = s
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: not after %v; last seen: %s", what, timeout, seen)
		case <-tick.C:
		}
	}
}

// Leader waits until every node in nodes answers and names the same leader
// (by ID), which is one of them and calls itself leader in the term the
// others report. It returns the leader's name and term.
func Leader(ctx context.Context, nodes []Node, timeout time.Duration) (leader string, term uint64, err error) {
	err = Until(ctx, timeout, "one leader known to every node", func(ctx context.Context) (bool, string, error) {
		var seen string
		leader, term, seen = leaderView(ctx, nodes)
		return leader != "", seen, nil
	})
	return leader, term, err
}

// LeaderIs waits until every node in nodes follows name (see Leader).
func LeaderIs(ctx context.Context, nodes []Node, name string, timeout time.Duration) error {
	return Until(ctx, timeout, name+" leading", func(ctx context.Context) (bool, string, error) {
		leader, _, seen := leaderView(ctx, nodes)
		return leader == name, seen, nil
	})
}

// leaderView asks every node once: the leader they all agree on ("" when
// they do not), its term, and what each said.
func leaderView(ctx context.Context, nodes []Node) (leader string, term uint64, seen string) {
	var views []string
	var leaderID uint64
	agree := true
	for i, n := range nodes {
		st, err := Status(ctx, n)
		if err != nil {
			views = append(views, n.Name+": "+err.Error())
			agree = false
			continue
		}
		views = append(views, fmt.Sprintf("%s: %s term %d leader %q", n.Name, st.Role, st.Term, st.Leader))
		if st.LeaderID == 0 || i > 0 && (st.LeaderID != leaderID || st.Term != term) {
			agree = false
		}
		leaderID, term = st.LeaderID, st.Term
		if st.ID == st.LeaderID && st.Role != "leader" {
			agree = false
		}
	}
	seen = strings.Join(views, "; ")
	i := slices.IndexFunc(nodes, func(n Node) bool { return server.NodeID(n.Name) == leaderID })
	if !agree || i < 0 {
		return "", 0, seen
	}
	return nodes[i].Name, term, seen
}

// Converged waits until every node has applied everything committed, all
// at the same index and revision, and returns that index.
func Converged(ctx context.Context, nodes []Node, timeout time.Duration) (applied uint64, err error) {
	err = Until(ctx, timeout, "every node applied to the same index", func(ctx context.Context) (bool, string, error) {
		var views []string
		same := true
		var rev int64
		for i, n := range nodes {
			st, err := Status(ctx, n)
			if err != nil {
				return false, n.Name + ": " + err.Error(), nil
			}
			views = append(views, fmt.Sprintf("%s: applied %d commit %d rev %d", n.Name, st.AppliedIndex, st.CommitIndex, st.Revision))
			if i == 0 {
				applied, rev = st.AppliedIndex, st.Revision
			}
			if st.AppliedIndex != applied || st.CommitIndex != applied || st.Revision != rev || st.Leader == "" {
				same = false
			}
		}
		return same, strings.Join(views, "; "), nil
	})
	return applied, err
}

// ErrDiverged: two nodes that applied the same index hold different data.
var ErrDiverged = errors.New("nodes diverged")

// SameState waits for the nodes to converge, then reads every key from each
// node's own store and compares: nodes at the same applied index and
// revision must hold the same keys, values and revisions. A write that
// lands between the reads makes it try again; a difference at the same
// revision is ErrDiverged.
func SameState(ctx context.Context, nodes []Node, timeout time.Duration) (keys int, err error) {
	err = Until(ctx, timeout, "the same data on every node", func(ctx context.Context) (bool, string, error) {
		if _, err := Converged(ctx, nodes, timeout); err != nil {
			return false, "", err
		}
		dumps := make([]*Dump, len(nodes))
		for i, n := range nodes {
			d, err := ReadAll(ctx, n)
			if err != nil {
				return false, err.Error(), nil
			}
			dumps[i] = d
		}
		for i, d := range dumps[1:] {
			if d.Revision != dumps[0].Revision {
				return false, fmt.Sprintf("%s at revision %d, %s at %d", nodes[0].Name, dumps[0].Revision, nodes[i+1].Name, d.Revision), nil
			}
			if diff := compareDumps(dumps[0], d); diff != "" {
				return false, "", fmt.Errorf("%w at revision %d: %s vs %s: %s", ErrDiverged, d.Revision, nodes[0].Name, nodes[i+1].Name, diff)
			}
		}
		keys = len(dumps[0].Kvs)
		return true, "", nil
	})
	return keys, err
}

func compareDumps(a, b *Dump) string {
	for i := 0; i < len(a.Kvs) || i < len(b.Kvs); i++ {
		switch {
		case i >= len(a.Kvs):
			return fmt.Sprintf("only the second has %+v", b.Kvs[i])
		case i >= len(b.Kvs):
			return fmt.Sprintf("only the first has %+v", a.Kvs[i])
		case a.Kvs[i] != b.Kvs[i]:
			return fmt.Sprintf("%+v vs %+v", a.Kvs[i], b.Kvs[i])
		}
	}
	return ""
}

// CaughtUp waits until every node in nodes has applied what the most
// advanced of them had committed when CaughtUp was called. Unlike
// Converged it holds under a running load.
func CaughtUp(ctx context.Context, nodes []Node, timeout time.Duration) error {
	var target uint64
	err := Until(ctx, timeout, "a commit index to catch up to", func(ctx context.Context) (bool, string, error) {
		for _, n := range nodes {
			st, err := Status(ctx, n)
			if err != nil {
				return false, n.Name + ": " + err.Error(), nil
			}
			target = max(target, st.CommitIndex)
		}
		return true, "", nil
	})
	if err != nil {
		return err
	}
	return Until(ctx, timeout, fmt.Sprintf("every node applied index %d", target), func(ctx context.Context) (bool, string, error) {
		var views []string
		done := true
		for _, n := range nodes {
			st, err := Status(ctx, n)
			if err != nil {
				return false, n.Name + ": " + err.Error(), nil
			}
			views = append(views, fmt.Sprintf("%s: applied %d", n.Name, st.AppliedIndex))
			done = done && st.AppliedIndex >= target
		}
		return done, strings.Join(views, "; "), nil
	})
}
