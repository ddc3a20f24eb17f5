package postgres

import "context"

// ExecRaw runs query on the database, bypassing the store: it implements
// storetest.RawExecer.
func (db *DB) ExecRaw(ctx context.Context, query string) error {
	_, err := db.pool.Exec(ctx, query)
	return err
}

// RetentionLock is the first key of the lock that serialises the purges
// of a school.
const RetentionLock = retentionLock
