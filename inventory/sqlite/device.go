package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/internal/devicecount"
)

// FindDeviceByID returns ENOTFOUND if there is no such device.
func (db *DB) FindDeviceByID(ctx context.Context, id uuid.UUID) (*inventory.Device, error) {
	var d *inventory.Device
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		d, err = findDeviceByID(ctx, tx, id)
		return err
	})
	return d, err
}

// FindDevices returns a page of devices matching f, in the order f.Sort
// and then by ID. Returns EINVALID for an unknown sort, status or rule, or
// for a cursor key that is not a key of the sort.
func (db *DB) FindDevices(ctx context.Context, f inventory.DeviceFilter) ([]*inventory.Device, error) {
	q, err := newDeviceQuery(f)
	if err != nil {
		return nil, err
	}
	if f.SchoolIDs != nil && len(f.SchoolIDs) == 0 {
		return []*inventory.Device{}, nil
	}
	var all []*inventory.Device
	err = db.inTx(ctx, func(tx *sql.Tx) (err error) {
		all, err = findDevices(ctx, tx, q)
		return err
	})
	return all, err
}

// RecordCheckIn notes a check-in. For a heartbeat whose hash differs from
// the stored report hash it returns EREPORTREQUIRED and changes nothing.
// For a full report it updates the device's hardware, stores a posture
// snapshot and the new hash in one transaction. Returns ENOTFOUND for an
// unknown device.
func (db *DB) RecordCheckIn(ctx context.Context, c inventory.CheckIn) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if c.Report == nil {
			return recordHeartbeat(ctx, tx, c)
		}
		return recordReport(ctx, tx, c)
	})
}

// RecordReports records full reports in one transaction, or none of them:
// see [inventory.DeviceStore.RecordReports].
func (db *DB) RecordReports(ctx context.Context, cs []inventory.CheckIn) error {
	if err := inventory.CheckReports(cs); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		for _, c := range cs {
			if err := recordReport(ctx, tx, c); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecordHeartbeats notes heartbeats in one transaction: see
// [inventory.DeviceStore.RecordHeartbeats]. SQLite writes one row at a
// time anyway; what the batch saves is a commit per heartbeat.
func (db *DB) RecordHeartbeats(ctx context.Context, cs []inventory.CheckIn) ([]error, error) {
	if err := inventory.CheckHeartbeats(cs); err != nil {
		return nil, err
	}
	errs := make([]error, len(cs))
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for i, c := range cs {
			err := recordHeartbeat(ctx, tx, c)
			switch inventory.ErrorCode(err) {
			case "":
			case inventory.EREPORTREQUIRED, inventory.ENOTFOUND:
				errs[i] = err
			default:
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// FindLatestPosture returns the newest posture snapshot of a device, or
// ENOTFOUND when it has none.
func (db *DB) FindLatestPosture(ctx context.Context, deviceID uuid.UUID) (*inventory.PostureSnapshot, error) {
	var p *inventory.PostureSnapshot
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var raw string
		p = &inventory.PostureSnapshot{}
		err := tx.QueryRowContext(ctx, `
			SELECT id, device_id, hash, posture, received_at FROM posture_snapshots
			WHERE device_id = ? ORDER BY received_at DESC, id DESC LIMIT 1`, deviceID,
		).Scan(&p.ID, &p.DeviceID, &p.Hash, &raw, timeScanner{&p.ReceivedAt})
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.ENOTFOUND, "device %s has no posture snapshot", deviceID)
		} else if err != nil {
			return fmt.Errorf("query posture: %w", err)
		}
		if err := json.Unmarshal([]byte(raw), &p.Posture); err != nil {
			return fmt.Errorf("decode posture: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// FindPostureSnapshots returns a device's posture snapshots, newest first.
func (db *DB) FindPostureSnapshots(ctx context.Context, deviceID uuid.UUID, limit int) ([]*inventory.PostureSnapshot, error) {
	all := []*inventory.PostureSnapshot{}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `
			SELECT id, device_id, hash, posture, received_at FROM posture_snapshots
			WHERE device_id = ? ORDER BY received_at DESC, id DESC LIMIT ?`,
			deviceID, inventory.DeviceFilter{Limit: limit}.PageLimit())
		if err != nil {
			return fmt.Errorf("query posture: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				p   inventory.PostureSnapshot
				raw string
			)
			if err := rows.Scan(&p.ID, &p.DeviceID, &p.Hash, &raw, timeScanner{&p.ReceivedAt}); err != nil {
				return fmt.Errorf("scan posture: %w", err)
			}
			if err := json.Unmarshal([]byte(raw), &p.Posture); err != nil {
				return fmt.Errorf("decode posture: %w", err)
			}
			all = append(all, &p)
		}
		return rows.Err()
	})
	return all, err
}

// CountDevices counts the devices f selects, ignoring its cursor, limit
// and sort; Unseen counts those last seen before unseenBefore or never
// seen. Returns EINVALID for an unknown status or rule in f.
func (db *DB) CountDevices(ctx context.Context, f inventory.DeviceFilter, unseenBefore time.Time) (inventory.DeviceCounts, error) {
	all, err := db.readDeviceCounts(ctx, f, unseenBefore, false)
	return all[uuid.Nil], err
}

// CountDevicesBySchool counts the devices f selects as CountDevices does,
// grouped by school, in one statement; a school with none of them has no
// entry. Returns EINVALID for an unknown status or rule in f.
func (db *DB) CountDevicesBySchool(ctx context.Context, f inventory.DeviceFilter, unseenBefore time.Time) (map[uuid.UUID]inventory.DeviceCounts, error) {
	return db.readDeviceCounts(ctx, f, unseenBefore, true)
}

// readDeviceCounts counts the devices f selects in a transaction, by
// school when bySchool, or else as one entry, always present, under
// [uuid.Nil].
func (db *DB) readDeviceCounts(ctx context.Context, f inventory.DeviceFilter, unseenBefore time.Time, bySchool bool) (map[uuid.UUID]inventory.DeviceCounts, error) {
	f.Sort, f.After, f.AfterKey = inventory.SortByID, uuid.Nil, ""
	q, err := newDeviceQuery(f)
	if err != nil {
		return nil, err
	}
	if f.SchoolIDs != nil && len(f.SchoolIDs) == 0 {
		all := map[uuid.UUID]inventory.DeviceCounts{}
		if !bySchool {
			all[uuid.Nil] = inventory.NewDeviceCounts()
		}
		return all, nil
	}
	var all map[uuid.UUID]inventory.DeviceCounts
	err = db.inTx(ctx, func(tx *sql.Tx) (err error) {
		all, err = countDevices(ctx, tx, q, unseenBefore, bySchool)
		return err
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// SetDeviceVerdict replaces a device's stored verdict, leaving UpdatedAt
// alone. Returns EINVALID for a verdict with an unknown status or rule,
// and ENOTFOUND.
func (db *DB) SetDeviceVerdict(ctx context.Context, id uuid.UUID, v inventory.Verdict) error {
	sv, err := encodeVerdict(v)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE devices SET
				verdict_status = ?, status_rank = ?, verdict_failing = ?, verdict_unknown = ?,
				verdict_until = ?
			WHERE id = ?`, sv.status, sv.rank(), sv.failing, sv.unknown, encodeTime(sv.until), id)
		if err != nil {
			return fmt.Errorf("update verdict: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("update verdict: %w", err)
		} else if n == 0 {
			return inventory.Errorf(inventory.ENOTFOUND, "device %s not found", id)
		}
		return nil
	})
}

// MarkUnseen adds the seen_recently rule to the failing rules of every
// judged device of the school last seen before before whose verdict does
// not fail it yet, making it noncompliant (and dropping seen_recently from
// its unknown rules), and returns how many it changed. A device never
// seen, or not judged yet, is left alone: its verdict already says that
// nothing is known of it, and a verdict made of seen_recently alone would
// turn compliant at its next heartbeat without ever being judged. The
// verdict's Until is left as it is.
func (db *DB) MarkUnseen(ctx context.Context, schoolID uuid.UUID, before time.Time) (int, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE devices SET
				verdict_status = 'noncompliant', status_rank = 0,
				verdict_failing = CASE verdict_failing WHEN '' THEN ',seen_recently,'
					ELSE verdict_failing || 'seen_recently,' END,
				verdict_unknown = CASE verdict_unknown WHEN ',seen_recently,' THEN ''
					ELSE replace(verdict_unknown, ',seen_recently,', ',') END
			WHERE school_id = ? AND last_seen_at < ? AND status_rank < 3
				AND instr(verdict_failing, ',seen_recently,') = 0`,
			schoolID, encodeTime(before))
		if err != nil {
			return fmt.Errorf("mark unseen devices: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

func findDeviceByID(ctx context.Context, tx *sql.Tx, id uuid.UUID) (*inventory.Device, error) {
	d, err := scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "device %s not found", id)
	}
	return d, err
}

// deviceOrder is how an [inventory.DeviceSort] reads in SQL.
type deviceOrder struct {
	// col is the column of the sort key, "" for the ID order; desc says
	// it sorts from the greatest key.
	col  string
	desc bool
	// keyed selects the devices that have a key and keyless those that
	// have none, which come last, by ID; keyless is "" when every device
	// has a key.
	keyed, keyless string
	// parse converts a cursor's AfterKey to the value stored in col.
	parse func(key string) (any, error)
}

// deviceOrders has every order of the device list. Each has an index on
// (col, id) and one on (school_id, col, id), so that a page is a range
// scan of one of them.
var deviceOrders = map[inventory.DeviceSort]deviceOrder{
	inventory.SortByID: {},
	inventory.SortByHostname: {
		col: "hostname_key", keyed: "hostname_key > ''", keyless: "hostname_key = ''", parse: textKey,
	},
	inventory.SortBySerial: {
		col: "serial_key", keyed: "serial_key > ''", keyless: "serial_key = ''", parse: textKey,
	},
	inventory.SortByLastSeen: {
		col: "last_seen_at", desc: true, keyed: "last_seen_at IS NOT NULL", keyless: "last_seen_at IS NULL",
		parse: func(key string) (any, error) {
			t, err := time.Parse(timeFormat, key)
			if err != nil {
				return nil, inventory.Errorf(inventory.EINVALID,
					"after_key %q is not a last-seen time in the form %s", key, timeFormat)
			}
			return encodeTime(t), nil
		},
	},
	inventory.SortByStatus: {col: "status_rank", parse: rankKey},
}

// textKey is the cursor key of a text order: the lower-cased text itself.
func textKey(key string) (any, error) { return key, nil }

// rankKey parses the cursor key of the status order.
func rankKey(key string) (any, error) {
	for rank, status := range []string{inventory.StatusNoncompliant, inventory.StatusUnknown, inventory.StatusCompliant, ""} {
		if inventory.StatusRank(status) == key {
			return rank, nil
		}
	}
	return nil, inventory.Errorf(inventory.EINVALID, "after_key %q is not a status rank: use 0, 1, 2 or 3", key)
}

// mustRank returns the rank of a status that has been checked.
func mustRank(status string) int {
	rank, err := rankKey(inventory.StatusRank(status))
	if err != nil {
		panic(err)
	}
	return rank.(int)
}

// deviceQuery is a [inventory.DeviceFilter] that has been checked.
type deviceQuery struct {
	f     inventory.DeviceFilter
	order deviceOrder
	// after is the cursor's key as stored, or nil when the cursor is at
	// the start or among the devices without a key (inTail).
	after  any
	inTail bool
}

// newDeviceQuery checks f: its sort, status, rule and cursor key.
func newDeviceQuery(f inventory.DeviceFilter) (*deviceQuery, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	q := &deviceQuery{f: f, order: deviceOrders[f.Sort]}
	order := q.order
	switch {
	case order.col == "":
		if f.AfterKey != "" {
			return nil, inventory.Errorf(inventory.EINVALID, "after_key %q: the ID order has no key", f.AfterKey)
		}
	case f.AfterKey != "":
		after, err := order.parse(f.AfterKey)
		if err != nil {
			return nil, err
		}
		q.after = after
	case f.After != uuid.Nil:
		if order.keyless == "" {
			return nil, inventory.Errorf(inventory.EINVALID, "after_key: the %s order needs the key of device %s", f.Sort, f.After)
		}
		q.inTail = true
	}
	return q, nil
}

// sqlArgs collects a query's arguments in the order of their placeholders.
type sqlArgs []any

// add appends v and returns its placeholder.
func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return "?"
}

// filter returns the conditions of q's filter, adding their arguments to
// a. It leaves out the cursor.
func (q *deviceQuery) filter(a *sqlArgs) []string {
	var (
		f     = q.f
		where []string
	)
	inSchools := func() string {
		marks := make([]string, len(f.SchoolIDs))
		for i, id := range f.SchoolIDs {
			marks[i] = a.add(id)
		}
		return "school_id IN (" + strings.Join(marks, ", ") + ")"
	}
	switch {
	case !f.DueBy.IsZero() && f.SchoolIDs != nil:
		// The school is repeated in each term, so that SQLite, which has
		// no statistics, reads the due devices from two indexes,
		// devices_school_by_status (never judged) and
		// devices_school_until, and sorts what it finds, instead of
		// walking the whole school in the order's index: the sweep reads
		// only the devices that are due. (After a policy change, when all
		// are, each page reads and sorts all that are left.)
		where = append(where, "("+inSchools()+" AND status_rank = 3 OR "+
			inSchools()+" AND verdict_until <= "+a.add(encodeTime(f.DueBy))+")")
	case !f.DueBy.IsZero():
		where = append(where, "(status_rank = 3 OR verdict_until <= "+a.add(encodeTime(f.DueBy))+")")
	case f.SchoolIDs != nil:
		where = append(where, inSchools())
	}
	if f.Search != "" {
		p := containsPattern(f.Search)
		where = append(where, `(hostname_key LIKE `+a.add(p)+` ESCAPE '\' OR serial_key LIKE `+a.add(p)+
			` ESCAPE '\' OR logged_in_user LIKE `+a.add(p)+` ESCAPE '\')`)
	}
	// The unary + keeps SQLite from scanning a status index for this
	// term and then sorting: it is tested in the order's index instead.
	if f.Status != "" {
		where = append(where, "+status_rank = "+a.add(mustRank(f.Status)))
	}
	if f.FailingRule != "" {
		where = append(where, "instr(verdict_failing, "+a.add(","+f.FailingRule+",")+") > 0")
	}
	if !f.SeenBefore.IsZero() {
		where = append(where, "(last_seen_at IS NULL OR last_seen_at < "+a.add(encodeTime(f.SeenBefore))+")")
	}
	if !f.SeenSince.IsZero() {
		where = append(where, "last_seen_at >= "+a.add(encodeTime(f.SeenSince)))
	}
	return where
}

// containsPattern returns a LIKE pattern for text containing s, ignoring
// case, with the wildcards in s escaped by a backslash.
func containsPattern(s string) string {
	return "%" + likeEscaper.Replace(strings.ToLower(s)) + "%"
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// whereClause joins conditions into a WHERE clause.
func whereClause(where []string) string {
	if len(where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(where, " AND ")
}

// findDevices reads a page from up to three ranges of the order, each
// one range scan of an order's index, until the page is full: the devices
// that share the cursor's key and come after it by ID, then those with
// keys after the cursor's, then those without a key, by ID.
func findDevices(ctx context.Context, tx *sql.Tx, q *deviceQuery) ([]*inventory.Device, error) {
	limit := q.f.PageLimit()
	all := []*inventory.Device{}
	for _, r := range q.ranges() {
		if len(all) >= limit {
			break
		}
		var a sqlArgs
		where := append(q.filter(&a), r.where(&a)...)
		page, err := queryDevices(ctx, tx, r.from+whereClause(where)+" ORDER BY "+r.orderBy+" LIMIT "+a.add(limit-len(all)), a)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
	}
	return all, nil
}

// keyRange is one range of an order that a page reads.
type keyRange struct {
	// where returns the range's conditions, adding their arguments to a.
	where   func(a *sqlArgs) []string
	orderBy string
	// from names the index to read, when SQLite would not choose it.
	from string
}

// ranges returns the ranges of q's order after its cursor, in order.
func (q *deviceQuery) ranges() []keyRange {
	o, f := q.order, q.f
	if o.col == "" {
		// Over all schools SQLite would walk the primary key's index,
		// which lacks the columns the filter reads.
		from := ""
		if f.SchoolIDs == nil {
			from = " INDEXED BY devices_by_id"
		}
		return []keyRange{{orderBy: "id", from: from, where: func(a *sqlArgs) []string {
			if f.After == uuid.Nil {
				return nil
			}
			return []string{"id > " + a.add(f.After)}
		}}}
	}
	if o.col == "status_rank" && (f.Status != "" || f.FailingRule != "") {
		return q.rankRange()
	}
	var out []keyRange
	after, byKey := ">", o.col+" ASC, id"
	if o.desc {
		after, byKey = "<", o.col+" DESC, id"
	}
	// A bound that the filter implies on the key, so that the scan stops
	// where the matching devices do.
	bounds := func(a *sqlArgs, w []string) []string {
		if o.col == "last_seen_at" && !f.SeenBefore.IsZero() {
			w = append(w, "last_seen_at < "+a.add(encodeTime(f.SeenBefore)))
		}
		return w
	}
	switch {
	case q.inTail:
	case q.after != nil:
		out = append(out,
			keyRange{orderBy: "id", where: func(a *sqlArgs) []string {
				return []string{o.col + " = " + a.add(q.after), "id > " + a.add(f.After)}
			}},
			keyRange{orderBy: byKey, where: func(a *sqlArgs) []string {
				return bounds(a, []string{o.col + " " + after + " " + a.add(q.after)})
			}})
	default:
		out = append(out, keyRange{orderBy: byKey, where: func(a *sqlArgs) []string {
			var w []string
			if o.keyed != "" {
				w = append(w, o.keyed)
			}
			return bounds(a, w)
		}})
	}
	// A device never seen is not seen since anything.
	if o.keyless == "" || (o.col == "last_seen_at" && !f.SeenSince.IsZero()) {
		return out
	}
	return append(out, keyRange{orderBy: "id", where: func(a *sqlArgs) []string {
		w := []string{o.keyless}
		if q.inTail {
			w = append(w, "id > "+a.add(f.After))
		}
		return w
	}})
}

// rankRange returns the one range of the status order that a filter on a
// status or a rule allows (only noncompliant devices fail a rule): that
// rank's devices by ID, from the cursor on. It returns none when the
// cursor is past that rank or the filter allows no rank.
func (q *deviceQuery) rankRange() []keyRange {
	f := q.f
	rank := mustRank(inventory.StatusNoncompliant)
	if f.Status != "" {
		rank = mustRank(f.Status)
	}
	if f.FailingRule != "" && rank != mustRank(inventory.StatusNoncompliant) {
		return nil
	}
	var after uuid.UUID
	if q.after != nil {
		switch k := q.after.(int); {
		case k > rank:
			return nil
		case k == rank:
			after = f.After
		}
	}
	return []keyRange{{orderBy: "id", where: func(a *sqlArgs) []string {
		w := []string{"status_rank = " + a.add(rank)}
		if after != uuid.Nil {
			w = append(w, "id > "+a.add(after))
		}
		return w
	}}}
}

// queryDevices reads the devices that rest selects: the query after FROM.
func queryDevices(ctx context.Context, tx *sql.Tx, rest string, args []any) ([]*inventory.Device, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices`+rest, args...)
	if err != nil {
		return nil, fmt.Errorf("query devices: %w", err)
	}
	defer rows.Close()
	var all []*inventory.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		all = append(all, d)
	}
	return all, rows.Err()
}

// countDevices returns the counts of the devices q selects: an entry for
// each school that has any when bySchool, or else one entry, under
// [uuid.Nil], for all of them. It reads the status from status_rank (2
// compliant, 0 noncompliant, 1 unknown and 3 not judged), which the
// last-seen indexes hold, so that the count is a scan of one of them.
func countDevices(ctx context.Context, tx *sql.Tx, q *deviceQuery, unseenBefore time.Time, bySchool bool) (map[uuid.UUID]inventory.DeviceCounts, error) {
	var a sqlArgs
	unseen := "last_seen_at IS NULL"
	if !unseenBefore.IsZero() {
		unseen += " OR last_seen_at < " + a.add(encodeTime(unseenBefore))
	}
	cols := []string{
		"count(*)",
		"coalesce(sum(status_rank = 2), 0)",
		"coalesce(sum(status_rank = 0), 0)",
		"coalesce(sum(status_rank IN (1, 3)), 0)",
		"coalesce(sum(" + unseen + "), 0)",
		"coalesce(sum(status_rank = 3), 0)",
	}
	for _, r := range inventory.Rules {
		cols = append(cols, "coalesce(sum(instr(verdict_failing, "+a.add(","+r+",")+") > 0), 0)",
			"coalesce(sum(instr(verdict_unknown, "+a.add(","+r+",")+") > 0), 0)")
	}
	group := ""
	if bySchool {
		cols, group = append([]string{"school_id"}, cols...), " GROUP BY school_id"
	}
	where := whereClause(q.filter(&a))
	rows, err := tx.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM devices`+where+group, a...)
	if err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	defer rows.Close()
	all, err := devicecount.Scan(rows, bySchool)
	if err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	return all, nil
}

// CountDevicesUpTo counts the devices f selects, stopping at max+1.
// Returns EINVALID for an unknown status or rule in f.
func (db *DB) CountDevicesUpTo(ctx context.Context, f inventory.DeviceFilter, max int) (int, error) {
	f.Sort, f.After, f.AfterKey = inventory.SortByID, uuid.Nil, ""
	q, err := newDeviceQuery(f)
	if err != nil || f.SchoolIDs != nil && len(f.SchoolIDs) == 0 {
		return 0, err
	}
	var n int
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var a sqlArgs
		where := whereClause(q.filter(&a))
		a.add(max + 1)
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM devices`+where+` LIMIT ?)`, a...).Scan(&n); err != nil {
			return fmt.Errorf("count devices: %w", err)
		}
		return nil
	})
	return n, err
}

// recordHeartbeat moves last_seen_at when the hash matches the stored one,
// and clears a seen_recently failure or unknown from the stored verdict,
// keeping its Until.
func recordHeartbeat(ctx context.Context, tx *sql.Tx, c inventory.CheckIn) error {
	var sv storedVerdict
	err := tx.QueryRowContext(ctx, `UPDATE devices SET last_seen_at = ?
		WHERE id = ? AND report_hash = ? AND report_hash <> ''
		RETURNING verdict_status, verdict_failing, verdict_unknown, verdict_until`,
		encodeTime(c.At), c.DeviceID, c.Hash).Scan(&sv.status, &sv.failing, &sv.unknown, timeScanner{&sv.until})
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := findDeviceByID(ctx, tx, c.DeviceID); err != nil {
			return err
		}
		return c.ReportRequiredError()
	} else if err != nil {
		return fmt.Errorf("update last seen: %w", err)
	}
	v := sv.decode()
	if !slices.Contains(v.Failing, inventory.RuleSeenRecently) && !slices.Contains(v.Unknown, inventory.RuleSeenRecently) {
		return nil
	}
	seen, err := encodeVerdict(v.Seen())
	if err != nil {
		return err
	}
	// verdict_until is not written: Seen keeps the stored Until.
	if _, err := tx.ExecContext(ctx, `UPDATE devices SET
			verdict_status = ?, status_rank = ?, verdict_failing = ?, verdict_unknown = ?
		WHERE id = ?`, seen.status, seen.rank(), seen.failing, seen.unknown, c.DeviceID); err != nil {
		return fmt.Errorf("update verdict: %w", err)
	}
	return nil
}

// recordReport stores a full report: the device's hardware, hash and
// verdict, and a posture snapshot.
func recordReport(ctx context.Context, tx *sql.Tx, c inventory.CheckIn) error {
	sv, err := encodeVerdict(c.Verdict)
	if err != nil {
		return err
	}
	h := &c.Report.Hardware
	hw, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode hardware: %w", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE devices SET
			hostname = ?, make = ?, model = ?, serial = ?, os_name = ?, os_version = ?,
			hardware = ?, report_hash = ?, last_seen_at = ?, updated_at = ?,
			hostname_key = ?, serial_key = ?, logged_in_user = ?,
			verdict_status = ?, status_rank = ?, verdict_failing = ?, verdict_unknown = ?,
			verdict_until = ?
		WHERE id = ?`,
		h.Hostname, h.Make, h.Model, h.Serial, h.OSName, h.OSVersion,
		string(hw), c.Hash, encodeTime(c.At), encodeTime(c.At),
		strings.ToLower(h.Hostname), strings.ToLower(h.Serial), strings.ToLower(h.LoggedInUser),
		sv.status, sv.rank(), sv.failing, sv.unknown, encodeTime(sv.until), c.DeviceID)
	if what, ok := uniqueViolation(err); ok && isSerialClash(what) {
		return inventory.Errorf(inventory.ECONFLICT, "serial number %s belongs to another device in this school", h.Serial)
	} else if err != nil {
		return fmt.Errorf("update device: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update device: %w", err)
	} else if n == 0 {
		return inventory.Errorf(inventory.ENOTFOUND, "device %s not found", c.DeviceID)
	}
	if err := insertPosture(ctx, tx, c.DeviceID, c.Hash, &c.Report.Posture, c.At); err != nil {
		return err
	}
	return saveRecoveryKeys(ctx, tx, c.DeviceID, c.RecoveryKeys, encryptionRead(c.Report), c.At)
}

// encryptionRead reports whether r says what encryption the device has,
// so that recovery keys it does not list are gone.
func encryptionRead(r *inventory.Report) bool {
	return r.Posture.Encryption != nil && r.Posture.Encryption.UnknownReason == ""
}

// insertPosture stores a posture snapshot received at at.
func insertPosture(ctx context.Context, tx *sql.Tx, deviceID uuid.UUID, hash string, p *inventory.Posture, at time.Time) error {
	id, err := newID()
	if err != nil {
		return err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode posture: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO posture_snapshots (id, device_id, hash, posture, received_at)
		VALUES (?, ?, ?, ?, ?)`, id, deviceID, hash, string(raw), encodeTime(at)); err != nil {
		return fmt.Errorf("insert posture snapshot: %w", err)
	}
	return nil
}

const deviceColumns = `id, school_id, hostname, make, model, serial, os_name, os_version,
	hardware, report_hash, last_seen_at, created_at, updated_at,
	verdict_status, verdict_failing, verdict_unknown, verdict_until`

func scanDevice(row rowScanner) (*inventory.Device, error) {
	var (
		d  inventory.Device
		hw string
		sv storedVerdict
	)
	err := row.Scan(&d.ID, &d.SchoolID, &d.Hostname, &d.Make, &d.Model, &d.Serial, &d.OSName, &d.OSVersion,
		&hw, &d.ReportHash, timeScanner{&d.LastSeenAt}, timeScanner{&d.CreatedAt}, timeScanner{&d.UpdatedAt},
		&sv.status, &sv.failing, &sv.unknown, timeScanner{&sv.until})
	if err != nil {
		return nil, fmt.Errorf("scan device: %w", err)
	}
	if err := json.Unmarshal([]byte(hw), &d.Hardware); err != nil {
		return nil, fmt.Errorf("decode hardware: %w", err)
	}
	d.Verdict = sv.decode()
	return &d, nil
}

// isSerialClash reports whether a uniqueness violation is on a school's
// serial numbers.
func isSerialClash(what string) bool {
	return strings.Contains(what, "devices.serial") || strings.Contains(what, "devices_school_serial_key")
}

// storedVerdict is a verdict as the devices table holds it: the status,
// the failing and unknown rules as ",rule,rule," text ("" for none), and
// Until in UTC to the microsecond (zero, stored as NULL, for none).
type storedVerdict struct {
	status, failing, unknown string
	until                    time.Time
}

// encodeVerdict checks v and returns it as stored. Returns EINVALID for an
// unknown status or rule, a rule given twice, rules without a status, or
// failing rules with a status other than noncompliant (which the status
// order relies on when it filters by rule).
func encodeVerdict(v inventory.Verdict) (storedVerdict, error) {
	switch v.Status {
	case "", inventory.StatusCompliant, inventory.StatusNoncompliant, inventory.StatusUnknown:
	default:
		return storedVerdict{}, inventory.Errorf(inventory.EINVALID, "verdict status %q: use %s, %s or %s, or none for not judged",
			v.Status, inventory.StatusCompliant, inventory.StatusNoncompliant, inventory.StatusUnknown)
	}
	switch {
	case v.Status == "" && len(v.Failing)+len(v.Unknown) > 0:
		return storedVerdict{}, inventory.Errorf(inventory.EINVALID, "verdict without a status lists rules")
	case len(v.Failing) > 0 && v.Status != inventory.StatusNoncompliant:
		return storedVerdict{}, inventory.Errorf(inventory.EINVALID, "verdict is %s but fails %s: a verdict that fails a rule is %s",
			v.Status, strings.Join(v.Failing, ", "), inventory.StatusNoncompliant)
	}
	seen := map[string]bool{}
	for _, r := range slices.Concat(v.Failing, v.Unknown) {
		switch {
		case !slices.Contains(inventory.Rules, r):
			return storedVerdict{}, inventory.Errorf(inventory.EINVALID, "verdict rule %q: use one of %s", r, strings.Join(inventory.Rules, ", "))
		case seen[r]:
			return storedVerdict{}, inventory.Errorf(inventory.EINVALID, "verdict lists rule %s twice", r)
		}
		seen[r] = true
	}
	return storedVerdict{status: v.Status, failing: joinRules(v.Failing), unknown: joinRules(v.Unknown), until: utc(v.Until)}, nil
}

// rank returns the status order's key of sv's status.
func (sv storedVerdict) rank() int { return mustRank(sv.status) }

// joinRules returns rules in the order of [inventory.Rules] as
// ",rule,rule," text, or "" for none.
func joinRules(rules []string) string {
	if len(rules) == 0 {
		return ""
	}
	return "," + strings.Join(sortRules(slices.Clone(rules)), ",") + ","
}

// decode returns the verdict sv holds, each list in the order of
// [inventory.Rules] and nil when empty.
func (sv storedVerdict) decode() inventory.Verdict {
	return inventory.Verdict{Status: sv.status, Failing: splitRules(sv.failing), Unknown: splitRules(sv.unknown), Until: sv.until}
}

// splitRules reads ",rule,rule," text.
func splitRules(s string) []string {
	s = strings.Trim(s, ",")
	if s == "" {
		return nil
	}
	return sortRules(strings.Split(s, ","))
}

// sortRules sorts rules in the order of [inventory.Rules], unknown ones
// last.
func sortRules(rules []string) []string {
	slices.SortStableFunc(rules, func(a, b string) int {
		return cmpRank(slices.Index(inventory.Rules, a), slices.Index(inventory.Rules, b))
	})
	return rules
}

// cmpRank compares two positions in [inventory.Rules], -1 (absent) after
// the rest.
func cmpRank(a, b int) int {
	if a < 0 {
		a = len(inventory.Rules)
	}
	if b < 0 {
		b = len(inventory.Rules)
	}
	return a - b
}
