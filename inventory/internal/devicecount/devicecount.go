// Package devicecount reads the device counts that the PostgreSQL and
// SQLite stores' count queries return, one row per school or one in all.
package devicecount

import (
	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// Rows is what [Scan] needs of a query's rows: a *sql.Rows or a
// pgx.Rows.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Scan reads a store's device counts from rows, each holding, in order,
// its school's ID when bySchool, then Total, Compliant, Noncompliant,
// Unknown, Unseen and Unjudged, then for each rule in [inventory.Rules]
// the devices failing it and the devices it cannot judge. It returns an
// entry for each school read, or without bySchool the one row's counts
// under [uuid.Nil]. It does not close rows.
func Scan(rows Rows, bySchool bool) (map[uuid.UUID]inventory.DeviceCounts, error) {
	all := map[uuid.UUID]inventory.DeviceCounts{}
	var school uuid.UUID
	failing := make([]int, len(inventory.Rules))
	unknowns := make([]int, len(inventory.Rules))
	for rows.Next() {
		c := inventory.NewDeviceCounts()
		dest := make([]any, 0, 7+2*len(inventory.Rules))
		if bySchool {
			dest = append(dest, &school)
		}
		dest = append(dest, &c.Total, &c.Compliant, &c.Noncompliant, &c.Unknown, &c.Unseen, &c.Unjudged)
		for i := range inventory.Rules {
			dest = append(dest, &failing[i], &unknowns[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		for i, r := range inventory.Rules {
			c.Failing[r], c.Unknowns[r] = failing[i], unknowns[i]
		}
		all[school] = c
	}
	return all, rows.Err()
}
