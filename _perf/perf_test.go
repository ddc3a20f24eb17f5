package perf

import (
	"encoding/json"
	"os"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
		"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/postgres"
	"github.com/rollcall/rollcall/inventory/postgres/pgtest"
	"github.com/rollcall/rollcall/inventory/sqlite"
	_ "modernc.org/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const N = 100000

var t0 = time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)

type row struct {
	id, school                     uuid.UUID
	host, serial, user             string
	seen                           *time.Time
	status                         string
	failing, unknown               []string
}

func gen(schools []uuid.UUID) []row {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"lab", "Lib", "office", "Hall", "art", "Sci", "IT", "music"}
	var out []row
	for i := 0; i < N; i++ {
		id, _ := uuid.NewV7()
		var sc uuid.UUID
		switch x := r.IntN(100); {
		case x < 40:
			sc = schools[0] // 40k
		case x < 41:
			sc = schools[1] // 1k
		default:
			sc = schools[2+r.IntN(len(schools)-2)]
		}
		rw := row{id: id, school: sc}
		if r.IntN(50) != 0 {
			rw.host = fmt.Sprintf("%s-%d", words[r.IntN(len(words))], r.IntN(20000))
		}
		if r.IntN(30) != 0 {
			rw.serial = fmt.Sprintf("SN%07d-%d", r.IntN(10000000), i)
		}
		rw.user = fmt.Sprintf("pupil%d", r.IntN(5000))
		if r.IntN(50) != 0 {
			t := t0.Add(-time.Duration(r.IntN(30*24*3600)) * time.Second)
			rw.seen = &t
		}
		switch x := r.IntN(100); {
		case x < 60:
			rw.status = "compliant"
		case x < 85:
			rw.status = "noncompliant"
			rw.failing = []string{"encryption"}
			if r.IntN(10) == 0 {
				rw.failing = []string{"antivirus", "seen_recently"}
			}
			if r.IntN(25) == 0 {
				rw.failing = []string{"screen_lock"}
			}
		case x < 95:
			rw.status = "unknown"
			rw.unknown = []string{"screen_lock"}
		}
		out = append(out, rw)
	}
	return out
}

var hwJSON = func() []byte {
	b, _ := json.Marshal(inventory.Hardware{Make: "Dell Inc.", Model: "Latitude 3440", Serial: "SN123456", ChassisType: "laptop",
		Hostname: "lab-1234", OSName: "Windows 11 Pro", OSVersion: "10.0.22631", KernelVersion: "10.0.22631.4037", Arch: "amd64",
		OSInstallDate: t0, CPUModel: "Intel(R) Core(TM) i5-1335U", CPUCores: 10, MemoryBytes: 16 << 30,
		Disks: []inventory.Disk{{Name: "nvme0", Model: "PM9B1 NVMe Samsung 512GB", Serial: "S6XANE0W123456", SizeBytes: 512 << 30},
			{Name: "sda", Model: "SanDisk Ultra", Serial: "4C530001230", SizeBytes: 64 << 30}},
		MACAddresses: []string{"00:11:22:33:44:55", "00:11:22:33:44:56", "00:11:22:33:44:57", "0a:00:27:00:00:0c"},
		LoggedInUser: "pupil1234", AgentVersion: "1.4.2"})
	return b
}()

func join(rs []string) string {
	if len(rs) == 0 {
		return ""
	}
	return "," + strings.Join(rs, ",") + ","
}

type scenario struct {
	name string
	f    inventory.DeviceFilter
}

func scenarios(schools []uuid.UUID) []scenario {
	return []scenario{
		{"all", inventory.DeviceFilter{}},
		{"big-school", inventory.DeviceFilter{SchoolIDs: schools[:1]}},
		{"small-school", inventory.DeviceFilter{SchoolIDs: schools[1:2]}},
		{"two-schools", inventory.DeviceFilter{SchoolIDs: schools[2:4]}},
		{"noncompliant", inventory.DeviceFilter{Status: "noncompliant"}},
		{"unknown", inventory.DeviceFilter{Status: "unknown"}},
		{"fail-encryption", inventory.DeviceFilter{FailingRule: "encryption"}},
		{"fail-screenlock(rare)", inventory.DeviceFilter{FailingRule: "screen_lock"}},
		{"unseen", inventory.DeviceFilter{SeenBefore: t0.AddDate(0, 0, -28)}},
		{"seen-recent", inventory.DeviceFilter{SeenSince: t0.AddDate(0, 0, -7)}},
		{"search-lab", inventory.DeviceFilter{Search: "lab"}},
		{"search-none", inventory.DeviceFilter{Search: "zzq"}},
		{"big-school+noncompliant", inventory.DeviceFilter{SchoolIDs: schools[:1], Status: "noncompliant"}},
		{"big-school+rare-rule", inventory.DeviceFilter{SchoolIDs: schools[:1], FailingRule: "screen_lock"}},
	}
}

func measure(t *testing.T, s inventory.Store, schools []uuid.UUID) {
	ctx := context.Background()
	for _, sc := range scenarios(schools) {
		for _, so := range inventory.DeviceSorts {
			f := sc.f
			f.Sort = so
			f.Limit = 1000
			var all []*inventory.Device
			var worstBig time.Duration
			for {
				st := time.Now()
				page, err := s.FindDevices(ctx, f)
				if el := time.Since(st); el > worstBig {
					worstBig = el
				}
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, page...)
				if len(page) < f.Limit {
					break
				}
				last := page[len(page)-1]
				f.After, f.AfterKey = last.ID, last.SortKey(so)
			}
			// Pages of 50 at several depths.
			var times []time.Duration
			for _, frac := range []float64{0, 0.25, 0.5, 0.9, 0.999} {
				g := sc.f
				g.Sort, g.Limit = so, 50
				if k := int(frac * float64(len(all))); k > 0 && k < len(all) {
					g.After, g.AfterKey = all[k-1].ID, all[k-1].SortKey(so)
				}
				st := time.Now()
				if _, err := s.FindDevices(ctx, g); err != nil {
					t.Fatal(err)
				}
				times = append(times, time.Since(st))
			}
			var ts []string
			for _, d := range times {
				ts = append(ts, fmt.Sprintf("%6.1f", float64(d.Microseconds())/1000))
			}
			t.Logf("%-24s %-9s n=%6d  1000-page max %6.1fms  50-page at 0/25/50/90/100%%: %s ms", sc.name, cmp(string(so)), len(all), float64(worstBig.Microseconds())/1000, strings.Join(ts, " "))
		}
		st := time.Now()
		if _, err := s.CountDevices(ctx, sc.f, t0.AddDate(0, 0, -7)); err != nil {
			t.Fatal(err)
		}
		t.Logf("%-26s count: %v", sc.name, time.Since(st).Round(10*time.Microsecond))
	}
}

func cmp(s string) string {
	if s == "" {
		return "id"
	}
	return s
}

func mkSchools(t *testing.T, s inventory.Store) []uuid.UUID {
	var ids []uuid.UUID
	for i := 0; i < 12; i++ {
		sc := &inventory.School{Slug: fmt.Sprintf("s%d", i), Name: "S"}
		if err := s.CreateSchool(context.Background(), sc); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sc.ID)
	}
	return ids
}

func TestSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "perf.db")
	if p := os.Getenv("PERF_DB"); p != "" {
		path = p
	}
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	schools := mkSchools(t, db)
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := raw.Begin()
	st, err := tx.Prepare(`INSERT INTO devices (id, school_id, hostname, serial, hardware, report_hash, last_seen_at, created_at, updated_at,
		hostname_key, serial_key, logged_in_user, verdict_status, verdict_failing, verdict_unknown) VALUES (?,?,?,?,?,'h',?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Format("2006-01-02T15:04:05.000000Z")
	for _, r := range gen(schools) {
		var seen any
		if r.seen != nil {
			seen = r.seen.Format("2006-01-02T15:04:05.000000Z")
		}
		if _, err := st.Exec(r.id.String(), r.school.String(), r.host, r.serial, string(hwJSON), seen, now, now,
			strings.ToLower(r.host), strings.ToLower(r.serial), r.user, r.status, join(r.failing), join(r.unknown)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db, err = sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if os.Getenv("PERF_DB") != "" {
		return
	}
	measure(t, db, schools)
}

func TestPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schools := mkSchools(t, db)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rows [][]any
	for _, r := range gen(schools) {
		var seen any
		if r.seen != nil {
			seen = *r.seen
		}
		f, u := r.failing, r.unknown
		if f == nil {
			f = []string{}
		}
		if u == nil {
			u = []string{}
		}
		rows = append(rows, []any{r.id, r.school, r.host, r.serial, hwJSON, "h", seen, t0, t0,
			strings.ToLower(r.host), strings.ToLower(r.serial), r.user, r.status, f, u})
	}
	if _, err := conn.CopyFrom(context.Background(), pgx.Identifier{"devices"},
		[]string{"id", "school_id", "hostname", "serial", "hardware", "report_hash", "last_seen_at", "created_at", "updated_at",
			"hostname_key", "serial_key", "logged_in_user", "verdict_status", "verdict_failing", "verdict_unknown"},
		pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "ANALYZE devices"); err != nil {
		t.Fatal(err)
	}
	measure(t, db, schools)
}
