package kv

// Defaults of Options. The size limits follow etcd: its default
// --max-request-bytes is 1.5 MiB and its --max-txn-ops is 128.
const (
	DefaultPrefix          = 'k'
	DefaultMaxRequestBytes = 3 << 19 // 1.5 MiB
	DefaultMaxValueBytes   = DefaultMaxRequestBytes
	DefaultMaxKeyBytes     = 32 << 10
	DefaultMaxTxnOps       = 128
	// DefaultWatchBufferResponses is etcd's chanBufLen.
	DefaultWatchBufferResponses = 128
	// DefaultWatchCatchUpEvents bounds one response replayed from history;
	// a revision is never split, so a response may exceed it by one revision.
	DefaultWatchCatchUpEvents = 1000
)

// maxTxnDepth bounds the nesting of Txn inside Txn. etcd has no explicit
// bound (its request size is the bound); ours keeps validation and apply
// recursion shallow.
const maxTxnDepth = 32

// Options configure a Store. The zero value means "all defaults".
//
// The limits are checked by Validate, which the server calls before it
// proposes a request. Apply does not check them, so nodes with different
// limits still apply the same log to the same state.
type Options struct {
	// Prefix is the first byte of every Pebble key the Store reads or writes.
	// 0 means DefaultPrefix ('k').
	Prefix byte
	// MaxKeyBytes bounds keys and range ends. etcd has no separate key limit;
	// ours keeps Pebble keys (which embed the key) reasonable.
	MaxKeyBytes int
	// MaxValueBytes bounds the value of a Put.
	MaxValueBytes int
	// MaxRequestBytes bounds the estimated encoded size of a request.
	MaxRequestBytes int
	// MaxTxnOps bounds the compares, and the ops of each branch, of a Txn.
	MaxTxnOps int
	// WatchBufferResponses is how many responses a watcher buffers before it
	// is considered slow and falls back to catching up from history.
	WatchBufferResponses int
	// WatchCatchUpEvents is the soft size, in events, of one response
	// replayed from history.
	WatchCatchUpEvents int
}

func (o Options) withDefaults() Options {
	if o.Prefix == 0 {
		o.Prefix = DefaultPrefix
	}
	setDefault(&o.MaxKeyBytes, DefaultMaxKeyBytes)
	setDefault(&o.MaxValueBytes, DefaultMaxValueBytes)
	setDefault(&o.MaxRequestBytes, DefaultMaxRequestBytes)
	setDefault(&o.MaxTxnOps, DefaultMaxTxnOps)
	setDefault(&o.WatchBufferResponses, DefaultWatchBufferResponses)
	setDefault(&o.WatchCatchUpEvents, DefaultWatchCatchUpEvents)
	return o
}

func setDefault(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}
