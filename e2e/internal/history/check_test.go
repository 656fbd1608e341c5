package history

import (
	"strings"
	"testing"
)

func put(client int, key, value string, call, ret int64, rev int64) Op {
	return Op{Client: client, Kind: Put, Key: key, Value: value, Call: call, Return: ret, Revision: rev}
}

func read(client int, key, got string, call, ret int64, rev int64) Op {
	return Op{Client: client, Kind: Get, Key: key, Found: got != "", Got: got, Call: call, Return: ret, Revision: rev}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []Op
		bad  string // a substring of the error; "" for a valid history
	}{
		{name: "sequential", ops: []Op{
			put(0, "a", "1", 0, 10, 2), read(1, "a", "1", 20, 30, 2),
			{Client: 0, Kind: CAS, Key: "a", Expect: "1", Value: "2", Succeeded: true, Call: 40, Return: 50, Revision: 3},
			read(1, "a", "2", 60, 70, 3),
			{Client: 0, Kind: Delete, Key: "a", Call: 80, Return: 90, Revision: 4},
			read(1, "a", "", 100, 110, 4),
		}},
		{name: "concurrent read may see either", ops: []Op{
			put(0, "a", "1", 0, 10, 2), put(0, "a", "2", 20, 40, 3), read(1, "a", "1", 25, 35, 2),
		}},
		{name: "stale read", bad: "not linearizable", ops: []Op{
			put(0, "a", "1", 0, 10, 2), put(0, "a", "2", 20, 30, 3), read(1, "a", "1", 40, 50, 3),
		}},
		{name: "lost acknowledged write", bad: "not linearizable", ops: []Op{
			put(0, "a", "1", 0, 10, 2), read(1, "a", "", 20, 30, 2),
		}},
		{name: "CAS reported failed but applied", bad: "not linearizable", ops: []Op{
			put(0, "a", "1", 0, 10, 2),
			{Client: 0, Kind: CAS, Key: "a", Expect: "1", Value: "2", Succeeded: false, Call: 20, Return: 30, Revision: 3},
			read(1, "a", "2", 40, 50, 3),
		}},
		{name: "unknown write may apply late", ops: []Op{
			{Client: 0, Kind: Put, Key: "a", Value: "1", Call: 0, Return: 5, Outcome: Unknown},
			read(1, "a", "", 20, 30, 1), read(1, "a", "1", 40, 50, 2),
		}},
		{name: "unknown write may never apply", ops: []Op{
			{Client: 0, Kind: Put, Key: "a", Value: "1", Call: 0, Return: 5, Outcome: Unknown},
			read(1, "a", "", 20, 30, 1),
		}},
		{name: "refused write is left out", ops: []Op{
			{Client: 0, Kind: Put, Key: "a", Value: "1", Call: 0, Return: 5, Outcome: Refused},
			read(1, "a", "", 20, 30, 1),
		}},
		{name: "revision went back", bad: "revision order", ops: []Op{
			put(0, "a", "1", 0, 10, 5), read(1, "b", "", 20, 30, 4),
		}},
		{name: "write did not move the revision", bad: "revision order", ops: []Op{
			put(0, "a", "1", 0, 10, 5), put(1, "b", "1", 20, 30, 5),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.ops, t.TempDir())
			switch {
			case tc.bad == "" && err != nil:
				t.Fatalf("a valid history was refused: %v", err)
			case tc.bad != "" && err == nil:
				t.Fatalf("an invalid history passed")
			case tc.bad != "" && !strings.Contains(err.Error(), tc.bad):
				t.Fatalf("error %q does not mention %q", err, tc.bad)
			}
		})
	}
}
