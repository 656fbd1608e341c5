package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/natsraft/natsraft/client"
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server/natsapi"
)

// newKVCommand is `node kv`: the key-value operations, through the
// cluster's NATS API.
func newKVCommand() *cobra.Command {
	f := &clientFlags{}
	cmd := clientCommand(f, &cobra.Command{
		Use:   "kv",
		Short: "Read, write and watch keys",
		Long: `Read, write and watch keys through the cluster's NATS API (any member
answers). Reads are linearizable unless --serializable. Output is readable
text, or with -o json the JSON of the NATS API (docs/api.md).`,
		Example: `  node kv put greeting hello
  node kv get greeting
  node kv get app/ --prefix -o json
  node kv watch app/ --prefix
  node kv del greeting`,
	})
	cmd.AddCommand(newKVPut(f), newKVGet(f), newKVDel(f), newKVWatch(f), newKVTxn(f), newKVCompact(f))
	return cmd
}

// rangeFlags select a key or a range.
type rangeFlags struct {
	prefix, fromKey bool
	rangeEnd        string
}

func (r *rangeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&r.prefix, "prefix", false, "every key starting with KEY (\"\" for every key)")
	fl.BoolVar(&r.fromKey, "from-key", false, "every key >= KEY")
	fl.StringVar(&r.rangeEnd, "range-end", "", "the keys in [KEY, range-end)")
}

func (r *rangeFlags) options() []client.OpOption {
	var opts []client.OpOption
	if r.prefix {
		opts = append(opts, client.WithPrefix())
	}
	if r.fromKey {
		opts = append(opts, client.WithFromKey())
	}
	if r.rangeEnd != "" {
		opts = append(opts, client.WithRange(r.rangeEnd))
	}
	return opts
}

func newKVPut(f *clientFlags) *cobra.Command {
	var prevKV bool
	cmd := &cobra.Command{
		Use:   "put KEY [VALUE]",
		Short: "Set a key (the value from standard input when not given)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			value, err := argOrStdin(cmd, args, 1)
			if err != nil {
				return err
			}
			return f.run(cmd, true, func(ctx context.Context, cl *client.Client) error {
				var opts []client.OpOption
				if prevKV {
					opts = append(opts, client.WithPrevKV())
				}
				resp, err := cl.Put(ctx, args[0], value, opts...)
				if err != nil {
					return err
				}
				return f.print(cmd.OutOrStdout(), natsapi.PutResponseToJSON(resp), func(w io.Writer) {
					fmt.Fprintf(w, "OK (revision %d)\n", resp.Header.Revision)
					if resp.PrevKv != nil {
						fmt.Fprintf(w, "previous value: %s\n", printable(resp.PrevKv.Value))
					}
				})
			})
		},
	}
	cmd.Flags().BoolVar(&prevKV, "prev-kv", false, "show the previous value")
	return cmd
}

// argOrStdin is args[i], or standard input when absent.
func argOrStdin(cmd *cobra.Command, args []string, i int) (string, error) {
	if len(args) > i {
		return args[i], nil
	}
	b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<20))
	return string(b), err
}

func newKVGet(f *clientFlags) *cobra.Command {
	var r rangeFlags
	var rev, limit int64
	var serializable, keysOnly, countOnly bool
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Read a key or a range of keys",
		Example: `  node kv get greeting
  node kv get app/ --prefix --keys-only
  node kv get "" --prefix --count-only
  node kv get greeting --rev 5 --serializable -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := append(r.options(), client.WithRev(rev), client.WithLimit(limit))
			opts = appendIf(opts, serializable, client.WithSerializable())
			opts = appendIf(opts, keysOnly, client.WithKeysOnly())
			opts = appendIf(opts, countOnly, client.WithCountOnly())
			return f.run(cmd, true, func(ctx context.Context, cl *client.Client) error {
				resp, err := cl.Get(ctx, args[0], opts...)
				if err != nil {
					return err
				}
				return f.print(cmd.OutOrStdout(), natsapi.RangeResponseToJSON(resp), func(w io.Writer) {
					printRange(w, resp, keysOnly, countOnly)
				})
			})
		},
	}
	r.register(cmd)
	fl := cmd.Flags()
	fl.Int64Var(&rev, "rev", 0, "read at this revision (0: the current one)")
	fl.Int64Var(&limit, "limit", 0, "at most this many keys (0: no limit)")
	fl.BoolVar(&serializable, "serializable", false, "read from the member that answers, without asking the leader (may be stale)")
	fl.BoolVar(&keysOnly, "keys-only", false, "keys without values")
	fl.BoolVar(&countOnly, "count-only", false, "only the number of keys")
	return cmd
}

func appendIf(opts []client.OpOption, cond bool, opt client.OpOption) []client.OpOption {
	if cond {
		return append(opts, opt)
	}
	return opts
}

// printRange prints key and value lines, as etcdctl does.
func printRange(w io.Writer, resp *kv.RangeResponse, keysOnly, countOnly bool) {
	if countOnly {
		fmt.Fprintln(w, resp.Count)
		return
	}
	for _, k := range resp.Kvs {
		fmt.Fprintln(w, printable(k.Key))
		if !keysOnly {
			fmt.Fprintln(w, printable(k.Value))
		}
	}
	if resp.More {
		fmt.Fprintf(w, "... %d keys in all (--limit)\n", resp.Count)
	}
}

func newKVDel(f *clientFlags) *cobra.Command {
	var r rangeFlags
	var prevKV bool
	cmd := &cobra.Command{
		Use:     "del KEY",
		Aliases: []string{"delete"},
		Short:   "Delete a key or a range of keys",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := appendIf(r.options(), prevKV, client.WithPrevKV())
			return f.run(cmd, true, func(ctx context.Context, cl *client.Client) error {
				resp, err := cl.Delete(ctx, args[0], opts...)
				if err != nil {
					return err
				}
				return f.print(cmd.OutOrStdout(), natsapi.DeleteResponseToJSON(resp), func(w io.Writer) {
					fmt.Fprintf(w, "deleted %d (revision %d)\n", resp.Deleted, resp.Header.Revision)
					for _, k := range resp.PrevKvs {
						fmt.Fprintf(w, "%s\n%s\n", printable(k.Key), printable(k.Value))
					}
				})
			})
		},
	}
	r.register(cmd)
	cmd.Flags().BoolVar(&prevKV, "prev-kv", false, "show the deleted key-values")
	return cmd
}

func newKVWatch(f *clientFlags) *cobra.Command {
	var r rangeFlags
	var rev int64
	var prevKV bool
	var count int
	cmd := &cobra.Command{
		Use:   "watch KEY",
		Short: "Print the changes of a key or a range until interrupted",
		Long: `Print the changes of a key or a range, from --rev (default: from now), until
interrupted or --count events were printed. The watch survives the failure
of the member serving it: it resumes on another, without missing or
repeating an event. With -o json, each event is one line of JSON.`,
		Example: `  node kv watch app/ --prefix
  node kv watch greeting --rev 1 --prev-kv -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := append(r.options(), client.WithRev(rev))
			opts = appendIf(opts, prevKV, client.WithPrevKV())
			return f.run(cmd, false, func(ctx context.Context, cl *client.Client) error {
				return watch(ctx, cmd.OutOrStdout(), f.output == "json", cl.Watch(ctx, args[0], opts...), count)
			})
		},
	}
	r.register(cmd)
	fl := cmd.Flags()
	fl.Int64Var(&rev, "rev", 0, "start at this revision (0: from now)")
	fl.BoolVar(&prevKV, "prev-kv", false, "show each event's previous value")
	fl.IntVar(&count, "count", 0, "exit after this many events (0: never)")
	return cmd
}

func watch(ctx context.Context, w io.Writer, asJSON bool, ch client.WatchChan, count int) error {
	enc := json.NewEncoder(w)
	printed := 0
	for resp := range ch {
		if resp.Canceled {
			return fmt.Errorf("watch ended: %w", resp.Err())
		}
		for i := range resp.Events {
			ev := &resp.Events[i]
			if asJSON {
				if err := enc.Encode(natsapi.EventToJSON(ev)); err != nil {
					return err
				}
			} else {
				printEvent(w, ev)
			}
			if printed++; printed == count {
				return nil
			}
		}
	}
	return ctx.Err()
}

func printEvent(w io.Writer, ev *kv.Event) {
	if ev.Type == kv.EventDelete {
		fmt.Fprintf(w, "DELETE %s (revision %d)\n", printable(ev.Kv.Key), ev.Kv.ModRevision)
		return
	}
	fmt.Fprintf(w, "PUT %s = %s (revision %d)\n", printable(ev.Kv.Key), printable(ev.Kv.Value), ev.Kv.ModRevision)
	if ev.PrevKv != nil {
		fmt.Fprintf(w, "  was %s\n", printable(ev.PrevKv.Value))
	}
}

const txnHelp = `Run a transaction given as JSON (the NATS API's txn body, see docs/api.md),
from --txn or standard input: if every compare holds, the success ops run,
otherwise the failure ops.

A compare: {"key":..., "target": value|version|create|mod|lease,
"result": "=", "!=", "<" or ">", and the operand: "value", "version",
"create_revision", "mod_revision" or "lease"}. An op: {"put":{"key","value"}},
{"range":{"key", "prefix":true...}}, {"delete":{"key"}} or {"txn":{...}}.
Binary keys and values go base64-encoded in key_b64 / value_b64.`

const txnExample = `  # compare-and-swap: set config to v2 only if nobody changed it since revision 7
  node kv txn --txn '{
    "compare": [{"key":"config","target":"mod","result":"=","mod_revision":7}],
    "success": [{"put":{"key":"config","value":"v2"}}],
    "failure": [{"range":{"key":"config"}}]}'

  # create a key only if it does not exist
  echo '{"compare":[{"key":"lock","version":0}],"success":[{"put":{"key":"lock","value":"me"}}]}' | node kv txn`

func newKVTxn(f *clientFlags) *cobra.Command {
	var body string
	cmd := &cobra.Command{
		Use:     "txn",
		Short:   "Run a transaction given as JSON",
		Long:    txnHelp,
		Example: txnExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if body == "" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<20))
				if err != nil {
					return err
				}
				body = string(b)
			}
			txn, err := natsapi.ParseTxnJSON([]byte(body))
			if err != nil {
				return err
			}
			return f.run(cmd, true, func(ctx context.Context, cl *client.Client) error {
				resp, err := cl.Txn(ctx, txn)
				if err != nil {
					return err
				}
				return f.print(cmd.OutOrStdout(), natsapi.TxnResponseToJSON(resp), func(w io.Writer) {
					printTxn(w, resp)
				})
			})
		},
	}
	cmd.Flags().StringVar(&body, "txn", "", "the transaction as JSON (default: read from standard input)")
	return cmd
}

func printTxn(w io.Writer, resp *kv.TxnResponse) {
	if resp.Succeeded {
		fmt.Fprintf(w, "SUCCEEDED (revision %d)\n", resp.Header.Revision)
	} else {
		fmt.Fprintf(w, "FAILED (revision %d)\n", resp.Header.Revision)
	}
	for _, op := range resp.Responses {
		switch {
		case op.Range != nil:
			printRange(w, op.Range, false, false)
		case op.Put != nil:
			fmt.Fprintln(w, "OK")
		case op.DeleteRange != nil:
			fmt.Fprintf(w, "deleted %d\n", op.DeleteRange.Deleted)
		case op.Txn != nil:
			printTxn(w, op.Txn)
		}
	}
}

func newKVCompact(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "compact REVISION",
		Short: "Discard the history below a revision",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rev, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("revision %q: %w", args[0], err)
			}
			return f.run(cmd, true, func(ctx context.Context, cl *client.Client) error {
				resp, err := cl.Compact(ctx, rev)
				if err != nil {
					return err
				}
				return f.print(cmd.OutOrStdout(), natsapi.CompactResponseJSON{Header: natsapi.HeaderJSON(resp.Header)},
					func(w io.Writer) { fmt.Fprintf(w, "compacted below revision %d\n", rev) })
			})
		},
	}
}
