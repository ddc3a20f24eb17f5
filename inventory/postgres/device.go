package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/internal/devicecount"
)

// FindDeviceByID returns ENOTFOUND if there is no such device.
func (db *DB) FindDeviceByID(ctx context.Context, id uuid.UUID) (*inventory.Device, error) {
	var d *inventory.Device
	err := db.readTx(ctx, func(tx pgx.Tx) (err error) {
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
	err = db.readTx(ctx, func(tx pgx.Tx) (err error) {
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
	if c.Report == nil {
		errs, err := db.RecordHeartbeats(ctx, []inventory.CheckIn{c})
		if err != nil {
			return err
		}
		return errs[0]
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		return recordReport(ctx, tx, c)
	})
}

// RecordReports records full reports in one transaction, or none of them:
// see [inventory.DeviceStore.RecordReports].
func (db *DB) RecordReports(ctx context.Context, cs []inventory.CheckIn) error {
	if err := inventory.CheckReports(cs); err != nil {
		return err
	}
	// In device order, so that transactions writing reports at once lock
	// their devices in the same order and cannot deadlock; a device's own
	// reports keep their order, so its latest is written last.
	sorted := slices.Clone(cs)
	slices.SortStableFunc(sorted, func(a, b inventory.CheckIn) int { return bytes.Compare(a.DeviceID[:], b.DeviceID[:]) })
	return db.inTxRetry(ctx, func(tx pgx.Tx) error {
		for _, c := range sorted {
			if err := recordReport(ctx, tx, c); err != nil {
				return err
			}
		}
		return nil
	})
}

// FindLatestPosture returns the newest posture snapshot of a device, or
// ENOTFOUND when it has none.
func (db *DB) FindLatestPosture(ctx context.Context, deviceID uuid.UUID) (*inventory.PostureSnapshot, error) {
	var p inventory.PostureSnapshot
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, `
			SELECT id, device_id, hash, posture, received_at FROM posture_snapshots
			WHERE device_id = $1 ORDER BY received_at DESC, id DESC LIMIT 1`, deviceID,
		).Scan(&p.ID, &p.DeviceID, &p.Hash, &raw, timeScanner{&p.ReceivedAt})
		if isNoRows(err) {
			return inventory.Errorf(inventory.ENOTFOUND, "device %s has no posture snapshot", deviceID)
		} else if err != nil {
			return fmt.Errorf("query posture: %w", err)
		}
		if err := json.Unmarshal(raw, &p.Posture); err != nil {
			return fmt.Errorf("decode posture: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// FindPostureSnapshots returns a device's posture snapshots, newest first.
func (db *DB) FindPostureSnapshots(ctx context.Context, deviceID uuid.UUID, limit int) ([]*inventory.PostureSnapshot, error) {
	all := []*inventory.PostureSnapshot{}
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT id, device_id, hash, posture, received_at FROM posture_snapshots
			WHERE device_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2`,
			deviceID, inventory.DeviceFilter{Limit: limit}.PageLimit())
		if err != nil {
			return fmt.Errorf("query posture: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				p   inventory.PostureSnapshot
				raw []byte
			)
			if err := rows.Scan(&p.ID, &p.DeviceID, &p.Hash, &raw, timeScanner{&p.ReceivedAt}); err != nil {
				return fmt.Errorf("scan posture: %w", err)
			}
			if err := json.Unmarshal(raw, &p.Posture); err != nil {
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

// readDeviceCounts counts the devices f selects in a read transaction, by
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
	err = db.readTx(ctx, func(tx pgx.Tx) (err error) {
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
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE devices SET
				verdict_status = $1, verdict_failing = $2, verdict_unknown = $3, verdict_until = $4
			WHERE id = $5`, sv.status, sv.failing, sv.unknown, encodeTime(sv.until), id)
		if err != nil {
			return fmt.Errorf("update verdict: %w", err)
		}
		if tag.RowsAffected() == 0 {
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
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE devices SET
				verdict_status = 'noncompliant',
				verdict_failing = array_append(verdict_failing, 'seen_recently'),
				verdict_unknown = array_remove(verdict_unknown, 'seen_recently')
			WHERE school_id = $1 AND last_seen_at < $2 AND verdict_status <> ''
				AND NOT verdict_failing @> ARRAY['seen_recently']`,
			schoolID, encodeTime(before))
		if err != nil {
			return fmt.Errorf("mark unseen devices: %w", err)
		}
		n = tag.RowsAffected()
		return nil
	})
	return int(n), err
}

func findDeviceByID(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*inventory.Device, error) {
	d, err := scanDevice(tx.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = $1`, id))
	if isNoRows(err) {
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
			t, err := time.Parse(keyTimeFormat, key)
			if err != nil {
				return nil, inventory.Errorf(inventory.EINVALID,
					"after_key %q is not a last-seen time in the form %s", key, keyTimeFormat)
			}
			return utc(t), nil
		},
	},
	inventory.SortByStatus: {col: "status_rank", parse: rankKey},
}

// keyTimeFormat is the form of a time in a cursor key.
const keyTimeFormat = "2006-01-02T15:04:05.000000Z"

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

// sqlArgs collects a query's arguments.
type sqlArgs []any

// add appends v and returns its placeholder.
func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// filter returns the conditions of q's filter, adding their arguments to
// a. It leaves out the cursor.
func (q *deviceQuery) filter(a *sqlArgs) []string {
	var (
		f     = q.f
		where []string
	)
	if f.SchoolIDs != nil {
		where = append(where, "school_id = ANY("+a.add(f.SchoolIDs)+")")
	}
	if f.Search != "" {
		p := a.add(containsPattern(f.Search))
		where = append(where, `(hostname_key LIKE `+p+` ESCAPE '\' OR serial_key LIKE `+p+
			` ESCAPE '\' OR logged_in_user LIKE `+p+` ESCAPE '\')`)
	}
	if f.Status != "" {
		where = append(where, "status_rank = "+a.add(mustRank(f.Status)))
	}
	if f.FailingRule != "" {
		where = append(where, "verdict_failing @> "+a.add([]string{f.FailingRule})+"::text[]")
	}
	if !f.SeenBefore.IsZero() {
		where = append(where, "(last_seen_at IS NULL OR last_seen_at < "+a.add(encodeTime(f.SeenBefore))+")")
	}
	if !f.SeenSince.IsZero() {
		where = append(where, "last_seen_at >= "+a.add(encodeTime(f.SeenSince)))
	}
	// When few of a school's devices are due, PostgreSQL reads the two
	// terms from two indexes, devices_school_by_status (never judged) and
	// devices_school_until, and sorts what they find, so that the sweep
	// reads only the devices that are due; when most are, as after a
	// policy change, it walks the ID order instead.
	if !f.DueBy.IsZero() {
		where = append(where, "(status_rank = 3 OR verdict_until <= "+a.add(encodeTime(f.DueBy))+")")
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
func findDevices(ctx context.Context, tx pgx.Tx, q *deviceQuery) ([]*inventory.Device, error) {
	limit := q.f.PageLimit()
	all := []*inventory.Device{}
	for _, r := range q.ranges() {
		if len(all) >= limit {
			break
		}
		var a sqlArgs
		where := append(q.filter(&a), r.where(&a)...)
		page, err := queryDevices(ctx, tx, whereClause(where)+" ORDER BY "+r.orderBy+" LIMIT "+a.add(limit-len(all)), a)
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
}

// ranges returns the ranges of q's order after its cursor, in order.
func (q *deviceQuery) ranges() []keyRange {
	o, f := q.order, q.f
	if o.col == "" {
		return []keyRange{{orderBy: "id", where: func(a *sqlArgs) []string {
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
// Like countDevices it runs as an unnamed statement, so that PostgreSQL
// plans every page for its own school, key and search text: a prepared
// statement's generic plan, which it switches to after five runs, cannot
// tell a big school from a small one or a rare rule from a common one.
func queryDevices(ctx context.Context, tx pgx.Tx, rest string, args []any) ([]*inventory.Device, error) {
	rows, err := tx.Query(ctx, `SELECT `+deviceColumns+` FROM devices`+rest, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
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
// [uuid.Nil], for all of them.
func countDevices(ctx context.Context, tx pgx.Tx, q *deviceQuery, unseenBefore time.Time, bySchool bool) (map[uuid.UUID]inventory.DeviceCounts, error) {
	var a sqlArgs
	unseen := "last_seen_at IS NULL"
	if !unseenBefore.IsZero() {
		unseen += " OR last_seen_at < " + a.add(encodeTime(unseenBefore))
	}
	cols := []string{
		"count(*)",
		"count(*) FILTER (WHERE verdict_status = 'compliant')",
		"count(*) FILTER (WHERE verdict_status = 'noncompliant')",
		"count(*) FILTER (WHERE verdict_status IN ('unknown', ''))",
		"count(*) FILTER (WHERE " + unseen + ")",
		"count(*) FILTER (WHERE verdict_status = '')",
	}
	for _, r := range inventory.Rules {
		p := a.add([]string{r})
		cols = append(cols, "count(*) FILTER (WHERE verdict_failing @> "+p+"::text[])", "count(*) FILTER (WHERE verdict_unknown @> "+p+"::text[])")
	}
	group := ""
	if bySchool {
		cols, group = append([]string{"school_id"}, cols...), " GROUP BY school_id"
	}
	where := whereClause(q.filter(&a))
	rows, err := tx.Query(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM devices`+where+group,
		append([]any{pgx.QueryExecModeCacheDescribe}, a...)...)
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
	err = db.readTx(ctx, func(tx pgx.Tx) error {
		var a sqlArgs
		where := whereClause(q.filter(&a))
		limit := a.add(max + 1)
		err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM devices`+where+` LIMIT `+limit+`) AS matching`,
			append([]any{pgx.QueryExecModeCacheDescribe}, a...)...).Scan(&n)
		if err != nil {
			return fmt.Errorf("count devices: %w", err)
		}
		return nil
	})
	return n, err
}

// RecordHeartbeats notes heartbeats in one transaction: see
// [inventory.DeviceStore.RecordHeartbeats].
func (db *DB) RecordHeartbeats(ctx context.Context, cs []inventory.CheckIn) ([]error, error) {
	if err := inventory.CheckHeartbeats(cs); err != nil {
		return nil, err
	}
	var errs []error
	err := db.inTxRetry(ctx, func(tx pgx.Tx) (err error) {
		errs, err = recordHeartbeats(ctx, tx, cs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// recordHeartbeats moves last_seen_at of each device whose hash matches
// the stored one, in one statement, and clears a seen_recently failure or
// unknown from its stored verdict, keeping its Until. The devices are
// updated in the order of their IDs, so that batches written at once by
// two replicas lock them in the same order.
func recordHeartbeats(ctx context.Context, tx pgx.Tx, cs []inventory.CheckIn) ([]error, error) {
	type key struct {
		id   uuid.UUID
		hash string
	}
	latest := make(map[key]time.Time, len(cs))
	for _, c := range cs {
		k := key{c.DeviceID, c.Hash}
		if at, ok := latest[k]; !ok || c.At.After(at) {
			latest[k] = c.At
		}
	}
	keys := slices.Collect(maps.Keys(latest))
	slices.SortFunc(keys, func(a, b key) int {
		if c := bytes.Compare(a.id[:], b.id[:]); c != 0 {
			return c
		}
		return strings.Compare(a.hash, b.hash)
	})
	ids, hashes, ats := make([]uuid.UUID, len(keys)), make([]string, len(keys)), make([]time.Time, len(keys))
	for i, k := range keys {
		ids[i], hashes[i], ats[i] = k.id, k.hash, utc(latest[k])
	}
	rows, err := tx.Query(ctx, `UPDATE devices AS d SET last_seen_at = v.at
		FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS v (id, hash, at)
		WHERE d.id = v.id AND d.report_hash = v.hash AND d.report_hash <> ''
		RETURNING d.id, d.report_hash, d.verdict_status, d.verdict_failing, d.verdict_unknown, d.verdict_until`,
		ids, hashes, ats)
	if err != nil {
		return nil, fmt.Errorf("update last seen: %w", err)
	}
	matched := make(map[uuid.UUID]string, len(keys)) // device → its stored hash
	var verdicts []storedVerdict
	var verdictOf []uuid.UUID
	for rows.Next() {
		var (
			id   uuid.UUID
			hash string
			sv   storedVerdict
		)
		if err := rows.Scan(&id, &hash, &sv.status, &sv.failing, &sv.unknown, timeScanner{&sv.until}); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan last seen: %w", err)
		}
		matched[id] = hash
		verdicts, verdictOf = append(verdicts, sv), append(verdictOf, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("update last seen: %w", err)
	}
	for i, sv := range verdicts {
		if err := clearSeenRecently(ctx, tx, verdictOf[i], sv.decode()); err != nil {
			return nil, err
		}
	}
	known, err := knownDevices(ctx, tx, cs, matched)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(cs))
	for i, c := range cs {
		stored, ok := matched[c.DeviceID]
		switch {
		case !known[c.DeviceID]:
			errs[i] = inventory.Errorf(inventory.ENOTFOUND, "device %s not found", c.DeviceID)
		case !ok || stored != c.Hash:
			errs[i] = c.ReportRequiredError()
		}
	}
	return errs, nil
}

// knownDevices returns which devices of cs exist: those matched, and of
// the others those found.
func knownDevices(ctx context.Context, tx pgx.Tx, cs []inventory.CheckIn, matched map[uuid.UUID]string) (map[uuid.UUID]bool, error) {
	known := make(map[uuid.UUID]bool, len(cs))
	var rest []uuid.UUID
	for _, c := range cs {
		if _, ok := matched[c.DeviceID]; ok {
			known[c.DeviceID] = true
		} else {
			rest = append(rest, c.DeviceID)
		}
	}
	if len(rest) == 0 {
		return known, nil
	}
	rows, err := tx.Query(ctx, `SELECT id FROM devices WHERE id = ANY($1)`, rest)
	if err != nil {
		return nil, fmt.Errorf("find devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan device: %w", err)
		}
		known[id] = true
	}
	return known, rows.Err()
}

// clearSeenRecently drops a seen_recently failure or unknown from device
// id's verdict v, now that the device has been seen. verdict_until is not
// written: Seen keeps the stored Until.
func clearSeenRecently(ctx context.Context, tx pgx.Tx, id uuid.UUID, v inventory.Verdict) error {
	if !slices.Contains(v.Failing, inventory.RuleSeenRecently) && !slices.Contains(v.Unknown, inventory.RuleSeenRecently) {
		return nil
	}
	seen, err := encodeVerdict(v.Seen())
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE devices SET
			verdict_status = $1, verdict_failing = $2, verdict_unknown = $3
		WHERE id = $4`, seen.status, seen.failing, seen.unknown, id); err != nil {
		return fmt.Errorf("update verdict: %w", err)
	}
	return nil
}

// recordReport stores a full report: the device's hardware, hash and
// verdict, and a posture snapshot.
func recordReport(ctx context.Context, tx pgx.Tx, c inventory.CheckIn) error {
	sv, err := encodeVerdict(c.Verdict)
	if err != nil {
		return err
	}
	h := &c.Report.Hardware
	hw, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode hardware: %w", err)
	}
	tag, err := tx.Exec(ctx, `UPDATE devices SET
			hostname = $1, make = $2, model = $3, serial = $4, os_name = $5, os_version = $6,
			hardware = $7, report_hash = $8, last_seen_at = $9, updated_at = $9,
			hostname_key = $10, serial_key = $11, logged_in_user = $12,
			verdict_status = $13, verdict_failing = $14, verdict_unknown = $15, verdict_until = $16
		WHERE id = $17`,
		h.Hostname, h.Make, h.Model, h.Serial, h.OSName, h.OSVersion,
		hw, c.Hash, encodeTime(c.At),
		strings.ToLower(h.Hostname), strings.ToLower(h.Serial), strings.ToLower(h.LoggedInUser),
		sv.status, sv.failing, sv.unknown, encodeTime(sv.until), c.DeviceID)
	if what, ok := uniqueViolation(err); ok && what == "devices_school_serial_key" {
		return inventory.Errorf(inventory.ECONFLICT, "serial number %s belongs to another device in this school", h.Serial)
	} else if err != nil {
		return fmt.Errorf("update device: %w", err)
	}
	if tag.RowsAffected() == 0 {
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
func insertPosture(ctx context.Context, tx pgx.Tx, deviceID uuid.UUID, hash string, p *inventory.Posture, at time.Time) error {
	id, err := newID()
	if err != nil {
		return err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode posture: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO posture_snapshots (id, device_id, hash, posture, received_at)
		VALUES ($1, $2, $3, $4, $5)`, id, deviceID, hash, raw, encodeTime(at)); err != nil {
		return fmt.Errorf("insert posture snapshot: %w", err)
	}
	return nil
}

const deviceColumns = `id, school_id, hostname, make, model, serial, os_name, os_version,
	hardware, report_hash, last_seen_at, created_at, updated_at,
	verdict_status, verdict_failing, verdict_unknown, verdict_until`

func scanDevice(row pgx.Row) (*inventory.Device, error) {
	var (
		d  inventory.Device
		hw []byte
		sv storedVerdict
	)
	err := row.Scan(&d.ID, &d.SchoolID, &d.Hostname, &d.Make, &d.Model, &d.Serial, &d.OSName, &d.OSVersion,
		&hw, &d.ReportHash, timeScanner{&d.LastSeenAt}, timeScanner{&d.CreatedAt}, timeScanner{&d.UpdatedAt},
		&sv.status, &sv.failing, &sv.unknown, timeScanner{&sv.until})
	if err != nil {
		return nil, fmt.Errorf("scan device: %w", err)
	}
	if err := json.Unmarshal(hw, &d.Hardware); err != nil {
		return nil, fmt.Errorf("decode hardware: %w", err)
	}
	d.Verdict = sv.decode()
	return &d, nil
}

// storedVerdict is a verdict as the devices table holds it: the status,
// the failing and unknown rules as arrays, empty (not NULL) for none, and
// Until in UTC to the microsecond (zero, stored as NULL, for none).
type storedVerdict struct {
	status           string
	failing, unknown []string
	until            time.Time
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
	return storedVerdict{
		status:  v.Status,
		failing: sortRules(append([]string{}, v.Failing...)),
		unknown: sortRules(append([]string{}, v.Unknown...)),
		until:   utc(v.Until),
	}, nil
}

// decode returns the verdict sv holds, each list in the order of
// [inventory.Rules] and nil when empty.
func (sv storedVerdict) decode() inventory.Verdict {
	v := inventory.Verdict{Status: sv.status, Until: sv.until}
	if len(sv.failing) > 0 {
		v.Failing = sortRules(sv.failing)
	}
	if len(sv.unknown) > 0 {
		v.Unknown = sortRules(sv.unknown)
	}
	return v
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
