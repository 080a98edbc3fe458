package store

// Bucket names a keyspace. Every bucket is declared here and created when
// the store opens, so a missing bucket is a programming error, not a state.
type Bucket string

// The buckets of the schema. Keys and values are documented where they are
// written (internal/hub); values are JSON unless noted. Documents,
// deliveries and queue entries are binary since the hub's layout 3 (a
// first byte 0x01, then protobuf wire format: internal/hub/records.go);
// the hub still reads the JSON ones written before.
const (
	// BucketMeta holds store-level facts such as the schema version.
	BucketMeta Bucket = "meta"
	// BucketAgencies maps identifier code -> agency record.
	BucketAgencies Bucket = "agencies"
	// BucketCredentials maps code NUL serial -> credential record.
	BucketCredentials Bucket = "credentials"
	// BucketDocuments maps document id -> document (header, attachments).
	BucketDocuments Bucket = "documents"
	// BucketRefs maps sender NUL reference -> document id: the idempotency index.
	BucketRefs Bucket = "refs"
	// BucketDeliveries maps document id NUL recipient -> delivery state and trace.
	BucketDeliveries Bucket = "deliveries"
	// BucketQueue maps agency code NUL sequence (8 bytes, big-endian) -> event.
	BucketQueue Bucket = "queue"
	// BucketSent maps sender NUL document id -> nothing: the sent index.
	BucketSent Bucket = "sent"
	// BucketInbox maps recipient NUL document id -> nothing: the received index.
	BucketInbox Bucket = "inbox"
	// BucketBlobs maps attachment SHA-256 (hex) -> blob record (size, where the bytes are).
	BucketBlobs Bucket = "blobs"
	// BucketBlobData maps document id NUL attachment index (4 digits) ->
	// the bytes of a small attachment, kept beside its document.
	BucketBlobData Bucket = "blob_data"
	// BucketPresence maps agency code -> last time it was seen (RFC 3339), so
	// "last seen" survives a hub restart.
	BucketPresence Bucket = "presence"
	// BucketBlobRefs maps SHA-256 (hex) NUL document id -> nothing: which
	// documents use a body, so the retention purge removes only unshared ones.
	BucketBlobRefs Bucket = "blob_refs"
	// BucketAliases maps an alias (a code outside the standard form that
	// real packets carry, such as "vxp.saas.03") -> alias record naming the
	// registered agency code it stands for.
	BucketAliases Bucket = "aliases"
	// BucketVxpSystems maps a VXP system id -> system record: the agencies
	// it serves and its HMAC secret, kept here so that a backup keeps it.
	BucketVxpSystems Bucket = "vxp_systems"
)

// allBuckets lists every bucket created on open.
var allBuckets = []Bucket{
	BucketMeta,
	BucketAgencies,
	BucketCredentials,
	BucketDocuments,
	BucketRefs,
	BucketDeliveries,
	BucketQueue,
	BucketSent,
	BucketInbox,
	BucketBlobs,
	BucketBlobData,
	BucketBlobRefs,
	BucketPresence,
	BucketAliases,
	BucketVxpSystems,
}

// SchemaVersion is the version of the layout above. Raise it when a change
// needs a migration; a store written by a newer version is refused.
// Version 2 adds the write-ahead log (BucketMeta "wal_applied"), so a hub
// that does not know the log refuses a file whose log it would ignore;
// version 1 files are upgraded on open.
const SchemaVersion = 2

// schemaKey is the BucketMeta key holding the schema version (decimal text).
var schemaKey = []byte("schema_version")

// appliedKey is the BucketMeta key holding the LSN (8 bytes, big-endian) of
// the last log record applied to the file.
var appliedKey = []byte("wal_applied")
