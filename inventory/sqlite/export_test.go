package sqlite

import "context"

// Pragma returns the value of a PRAGMA on db's connection.
func Pragma(ctx context.Context, db *DB, name string) (string, error) {
	var v string
	err := db.db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}
