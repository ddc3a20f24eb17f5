package sqlite

import "context"

// Pragma returns the value of a PRAGMA on db's connection.
func Pragma(ctx context.Context, db *DB, name string) (string, error) {
	var v string
	err := db.db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

// ExecRaw runs query on the database, bypassing the store: it implements
// storetest.RawExecer.
func (db *DB) ExecRaw(ctx context.Context, query string) error {
	_, err := db.db.ExecContext(ctx, query)
	return err
}
