// Package store is the hub's durable storage: a small transactional
// key-value interface (Store, Tx) over named buckets, its implementation
// in one bbolt file with a write-ahead log in front (Bolt), and attachment
// bodies kept as files beside it (Files).
//
// It is the only package that imports bbolt. Callers see buckets, keys and
// byte values, never bbolt types, so another implementation, a replicated
// one, can replace Bolt without changes above this package if it keeps the
// promises below.
//
// # Update
//
// Update runs its function in a read-write transaction and returns nil only
// once the transaction's writes are durable: written to stable storage and
// synced (Bolt: the log record holding them, fdatasynced), so that no crash
// afterwards loses them. If the function returns an error, none of its
// writes are kept and Update returns that error unchanged.
//
// Updates are group-committed: calls that arrive while a commit is being
// written share the next one (up to Options.MaxBatch: one log record, one
// fdatasync), and each caller is answered when the commit holding its
// writes is durable. The functions of a group run one at a time, each
// seeing the writes of those before it that succeeded. A function may be
// run more than once (Bolt runs it once; an implementation that retries,
// after a conflict or a change of leader, may not), so it must have no
// effect outside its transaction.
//
// If ctx ends before the call is queued, Update returns ctx's error and
// writes nothing. Once queued, the caller waits for the outcome, so a
// write is never left in doubt.
//
// # Ordering
//
// Commits form one sequence (Bolt: the log's record numbers). A write is
// visible to every View and Update that begins after its Update returned.
// NextSequence values of a bucket increase in commit order (Bolt gives a
// failed function's values out again).
//
// # View
//
// View runs its function in a read-only transaction on the state after one
// commit: every write of that commit and of those before it, none after,
// and never a write that is not yet durable. It sees every write whose
// Update returned before View was called, including those Bolt has in its
// log but not yet in its file (the overlay). Values returned are copies.
//
// # Snapshot
//
// Snapshot is a consistent, point-in-time copy of the whole store for
// backups, taken while writers go on. It holds every write committed before
// the call; fn also gets a Tx on that same state. A Bolt snapshot is a
// bbolt file that OpenBolt opens; it needs no log.
//
// # Attachment bodies
//
// Files holds attachment bodies as files named by their SHA-256, outside
// any transaction; a record (BucketBlobs) names each body. A body is
// written, fsynced and renamed into place (FileWriter.Commit) before the
// Update that commits the record naming it, so a committed record never
// names a missing body; an implementation must keep that order wherever
// the record can be read. A crash in between leaves a file no record
// names: the hub sweeps those at start (Files.Sweep), before any upload.
// The hub removes a body only after the record naming it is deleted.
//
// # Errors
//
// Callers branch on the errors with errors.Is. ErrNotFound: Tx.Get of a
// missing key, Files.Open of a missing body. ErrClosed: View, Update,
// Snapshot or Check after Close. ErrUnknownBucket: a bucket not declared
// in buckets.go. OpenBolt fails with ErrSchema (another schema version),
// ErrLocked (another process has the file open) or ErrCorrupt (a damaged
// file or log); it checks the file and reads the whole log before it
// writes anything. An Update may also fail with the error that
// kept its commit from being durable (a full disk); its writes are then
// not kept.
package store
