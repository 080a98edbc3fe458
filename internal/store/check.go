package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// check runs bbolt's page check in a write transaction that it rolls back:
// the check reads the free list, which the applier's commits would change
// under a read transaction (damage reported that is not there, or a fatal
// concurrent map access). The applier waits for it; commits go on into the
// log, and writers wait only if the check outlasts MaxUnapplied.
func check(ctx context.Context, db *bolt.DB) ([]string, error) {
	tx, err := db.Begin(true)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	problems := checkTx(tx)
	return problems, ctx.Err()
}

// checkTx runs bbolt's page check, turning a panic on a damaged page into
// a reported problem.
func checkTx(tx *bolt.Tx) (problems []string) {
	defer func() {
		if r := recover(); r != nil {
			problems = append(problems, fmt.Sprintf("page check stopped on damaged data: %v", r))
		}
	}()
	// Read every key first, here: a damaged page then panics in this
	// goroutine, where it is recovered, instead of in the goroutine that
	// bbolt's own check starts to rebuild the free list.
	if err := touchAll(tx); err != nil {
		return append(problems, err.Error())
	}
	for err := range tx.Check() {
		problems = append(problems, err.Error())
		if len(problems) >= 100 {
			problems = append(problems, "(more problems not listed)")
			break
		}
	}
	return problems
}

// touchAll reads every key and value of every bucket.
func touchAll(tx *bolt.Tx) error {
	var walk func(b *bolt.Bucket) error
	walk = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				if nb := b.Bucket(k); nb != nil {
					return walk(nb)
				}
			}
			return nil
		})
	}
	return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
}
