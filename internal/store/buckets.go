package store

// Bucket names a keyspace. Every bucket is declared here and created when
// the store opens, so a missing bucket is a programming error, not a state.
type Bucket string

// The buckets of the schema. Keys and values are documented where they are
// written (internal/hub); values are JSON unless noted.
const (
	// BucketMeta holds store-level facts such as the schema version.
	BucketMeta Bucket = "meta"
	// BucketAgencies maps identifier code -> agency record.
	BucketAgencies Bucket = "agencies"
	// BucketCredentials maps code NUL serial -> credential record.
	BucketCredentials Bucket = "credentials"
)

// allBuckets lists every bucket created on open.
var allBuckets = []Bucket{
	BucketMeta,
	BucketAgencies,
	BucketCredentials,
}

// SchemaVersion is the version of the layout above. Raise it when a change
// needs a migration; a store written by a newer version is refused.
const SchemaVersion = 1

// schemaKey is the BucketMeta key holding the schema version (decimal text).
var schemaKey = []byte("schema_version")

func known(b Bucket) bool {
	for _, k := range allBuckets {
		if k == b {
			return true
		}
	}
	return false
}
