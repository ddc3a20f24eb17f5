package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// Verdicts the dashboard tests give devices.
var (
	vCompliant  = inventory.Verdict{Status: inventory.StatusCompliant}
	vNotJudged  = inventory.Verdict{}
	vEncryption = inventory.Verdict{Status: inventory.StatusNoncompliant, Failing: []string{inventory.RuleEncryption}}
	vUnseen     = inventory.Verdict{Status: inventory.StatusNoncompliant, Failing: []string{inventory.RuleSeenRecently}}
	vAVUnseen   = inventory.Verdict{Status: inventory.StatusNoncompliant, Failing: []string{inventory.RuleAntivirus, inventory.RuleSeenRecently}}
	vEncLock    = inventory.Verdict{Status: inventory.StatusNoncompliant, Failing: []string{inventory.RuleEncryption, inventory.RuleScreenLock}}
	vLock       = inventory.Verdict{Status: inventory.StatusNoncompliant, Failing: []string{inventory.RuleScreenLock}}
	vUnknownLS  = inventory.Verdict{Status: inventory.StatusUnknown, Unknown: []string{inventory.RuleScreenLock}}
	vUnknownSR  = inventory.Verdict{Status: inventory.StatusUnknown, Unknown: []string{inventory.RuleSeenRecently}}
	vUnknownAV  = inventory.Verdict{Status: inventory.StatusUnknown, Unknown: []string{inventory.RuleAntivirus}}
	vUnknown2   = inventory.Verdict{Status: inventory.StatusUnknown, Unknown: []string{inventory.RuleEncryption, inventory.RuleAntivirus}}
)

// fleetSpec is one device of the dashboard tests' fleet.
type fleetSpec struct {
	school               int // index into the fleet's schools
	host, serial, user   string
	seen                 time.Duration // last seen at t0 plus this
	verdict              inventory.Verdict
	until                time.Duration // the verdict's Until is t0 plus this; 0: none
	renamedFrom, oldUser string        // set: enrolled with these, then renamed by a full report
}

// fleetDueBy is the DueBy of the fleet cases: devices whose verdict's
// Until is at most an hour after t0 are due then.
var fleetDueBy = ts(t0.Add(time.Hour))

// verdictGiven returns sp's verdict with its Until, given in another
// zone and with nanoseconds, which the stores drop.
func (sp fleetSpec) verdictGiven() inventory.Verdict {
	v := sp.verdict
	if sp.until != 0 {
		v.Until = t0.Add(sp.until).In(time.FixedZone("UTC-3", -3*3600))
	}
	return v
}

// verdictStored returns sp's verdict as the stores read it back.
func (sp fleetSpec) verdictStored() inventory.Verdict {
	v := sp.verdictGiven()
	v.Until = ts(v.Until)
	return v
}

// fleetSpecs have ties in every key, devices without a hostname or
// serial, wildcards and non-ASCII letters, over three schools.
var fleetSpecs = []fleetSpec{
	{school: 0, host: "Lab-01", serial: "SN-A1", user: "Pupil1", seen: 0, verdict: vCompliant, until: -2 * time.Hour},
	{school: 0, host: "lab-01", serial: "sn-a2", user: "pupil2", seen: 0, verdict: vEncryption},
	{school: 0, host: "", serial: "SN-A3", seen: time.Hour, verdict: vUnknownLS, until: time.Hour},
	{school: 0, host: "lab_02", serial: "", user: "teacher", seen: 2 * time.Hour, verdict: vNotJudged, until: 5 * time.Hour},
	{school: 0, host: "Lab%03", serial: "", seen: 2 * time.Hour, verdict: vCompliant, until: 5 * time.Hour},
	{school: 0, host: "Zeta", serial: "SN-A6", user: "Pupil10", seen: -48 * time.Hour, verdict: vAVUnseen},
	{school: 0, host: "", serial: "", user: "x", seen: 3 * time.Hour, verdict: vCompliant, until: time.Hour + time.Microsecond},
	{school: 1, host: "LAB-01", serial: "SN-A1", user: "PUPIL1", seen: 0, verdict: vCompliant, until: time.Hour},
	{school: 1, host: "alpha", serial: "SN-B2", seen: 5 * time.Hour, verdict: vUnknownSR, until: 48 * time.Hour},
	{school: 1, host: "Beta", serial: "sn-b3", user: "Teacher", seen: 5 * time.Hour, verdict: vEncLock, until: -time.Hour},
	{school: 1, host: "beta", serial: "SN-B3", seen: 5 * time.Hour, verdict: vEncryption},
	{school: 1, host: "", serial: "SN-B4", seen: -24 * time.Hour, verdict: vNotJudged},
	{school: 1, host: "gamma", serial: "", user: "pupil3", seen: 6 * time.Hour, verdict: vCompliant, until: -3 * time.Hour,
		renamedFrom: "AAA-old", oldUser: "olduser"},
	{school: 2, host: "Ärger", serial: "ÄB-1", user: "Ülrich", seen: 7 * time.Hour, verdict: vUnknown2},
	{school: 2, host: "ärger", serial: "äb-2", seen: 7 * time.Hour, verdict: vCompliant, until: 2 * time.Hour},
	{school: 2, host: "delta", serial: "SN-C3", seen: 8 * time.Hour, verdict: vLock, until: -5 * time.Hour},
	{school: 2, host: "Delta", serial: "SN-C4", seen: 8 * time.Hour, verdict: vNotJudged},
	{school: 2, host: "epsilon", serial: "SN-C5", seen: 0, verdict: vCompliant, until: time.Hour},
	{school: 2, host: "", serial: "", seen: 9 * time.Hour, verdict: vEncryption},
	{school: 2, host: "omega", serial: "SN-C7", seen: 10 * time.Hour, verdict: vUnknownLS},
	{school: 0, host: "lab-04", serial: "SN-A8", seen: 10 * time.Hour, verdict: vCompliant, until: -30 * time.Hour},
	{school: 0, host: "lab-05", serial: "SN-A9", seen: 11 * time.Hour, verdict: vUnseen},
	{school: 1, host: "kappa", serial: "SN-B8", seen: 12 * time.Hour, verdict: vCompliant, until: 3 * time.Hour},
	{school: 1, host: "lambda", serial: "sn-b9", seen: 12 * time.Hour, verdict: vNotJudged, until: -time.Hour},
	{school: 2, host: "mu", serial: "SN-C9", seen: time.Hour, verdict: vUnknownAV, until: 9 * time.Hour},
	{school: 2, host: "Nu", serial: "", seen: time.Hour, verdict: vCompliant, until: time.Hour - time.Microsecond},
}

// fleet is the dashboard tests' devices in a fresh store.
type fleet struct {
	schools []*inventory.School
	devices []*inventory.Device // as read back, in the order of fleetSpecs
	label   map[uuid.UUID]string
}

// fleet enrols fleetSpecs, each with its verdict, and returns them.
func (e *env) fleet() *fleet {
	e.t.Helper()
	fl := &fleet{label: map[uuid.UUID]string{}}
	var toks []*inventory.EnrollToken
	for _, slug := range []string{"a", "b", "c"} {
		sc := e.school(slug)
		fl.schools = append(fl.schools, sc)
		toks = append(toks, e.token(sc.ID, len(fleetSpecs)))
	}
	for i, sp := range fleetSpecs {
		r := enrollRequest(toks[sp.school], sp.serial)
		r.Report.Hardware.Hostname, r.Report.Hardware.LoggedInUser = sp.host, sp.user
		if sp.renamedFrom != "" {
			r.Report.Hardware.Hostname, r.Report.Hardware.LoggedInUser = sp.renamedFrom, sp.oldUser
		}
		r.ReportHash = hashOf(r.Report)
		r.At = t0.Add(sp.seen)
		r.Verdict = sp.verdictGiven()
		if sp.renamedFrom != "" {
			r.At, r.Verdict = t0.Add(-time.Hour), vEncryption
		}
		d, err := e.s.EnrollDevice(e.ctx, r)
		if err != nil {
			e.t.Fatalf("EnrollDevice(%d): %v", i, err)
		}
		if sp.renamedFrom != "" {
			rep := r.Report
			rep.Hardware.Hostname, rep.Hardware.LoggedInUser = sp.host, sp.user
			c := inventory.CheckIn{DeviceID: d.ID, Hash: hashOf(rep), Report: &rep, At: t0.Add(sp.seen), Verdict: sp.verdictGiven()}
			if err := e.s.RecordCheckIn(e.ctx, c); err != nil {
				e.t.Fatalf("RecordCheckIn(%d): %v", i, err)
			}
		}
		d = e.findDevice(d.ID)
		if d.Hostname != sp.host || d.Serial != sp.serial || d.SchoolID != fl.schools[sp.school].ID ||
			!d.LastSeenAt.Equal(ts(t0.Add(sp.seen))) {
			e.t.Fatalf("device %d read back as %s/%s in %s seen %v", i, d.Hostname, d.Serial, d.SchoolID, d.LastSeenAt)
		}
		equal(e.t, fmt.Sprintf("device %d verdict", i), d.Verdict, sp.verdictStored())
		fl.devices = append(fl.devices, d)
		fl.label[d.ID] = fmt.Sprintf("%d:%s/%s", i, sp.host, sp.serial)
	}
	return fl
}

// labels names devices for a readable failure.
func (fl *fleet) labels(ds []*inventory.Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = fl.label[d.ID]
		if out[i] == "" {
			out[i] = "unknown device " + d.ID.String()
		}
	}
	return out
}

// fleetCase is a filter of the fleet with the same selection in Go.
type fleetCase struct {
	name string
	f    inventory.DeviceFilter
	keep func(fl *fleet, i int, d *inventory.Device) bool
}

func fleetCases(fl *fleet) []fleetCase {
	contains := func(d *inventory.Device, s string) bool {
		s = strings.ToLower(s)
		return strings.Contains(strings.ToLower(d.Hostname), s) || strings.Contains(strings.ToLower(d.Serial), s) ||
			strings.Contains(strings.ToLower(d.Hardware.LoggedInUser), s)
	}
	in := func(d *inventory.Device, schools ...int) bool {
		for _, s := range schools {
			if d.SchoolID == fl.schools[s].ID {
				return true
			}
		}
		return false
	}
	all := func(*fleet, int, *inventory.Device) bool { return true }
	// due says whether d is due at by: never judged, or its verdict's
	// Until at or before by.
	due := func(d *inventory.Device, by time.Time) bool {
		return d.Verdict.Status == "" || !d.Verdict.Until.IsZero() && !d.Verdict.Until.After(by)
	}
	// Bounds in microseconds, as the stores keep times.
	before, since, late := ts(t0.Add(time.Hour)), ts(t0.Add(5*time.Hour)), ts(t0.Add(6*time.Hour))
	a, b, c := fl.schools[0].ID, fl.schools[1].ID, fl.schools[2].ID
	return []fleetCase{
		{"All", inventory.DeviceFilter{}, all},
		{"SchoolA", inventory.DeviceFilter{SchoolIDs: []uuid.UUID{a}}, func(fl *fleet, i int, d *inventory.Device) bool { return in(d, 0) }},
		{"SchoolsBC", inventory.DeviceFilter{SchoolIDs: []uuid.UUID{b, c}}, func(fl *fleet, i int, d *inventory.Device) bool { return in(d, 1, 2) }},
		{"NoSchool", inventory.DeviceFilter{SchoolIDs: []uuid.UUID{}}, func(*fleet, int, *inventory.Device) bool { return false }},
		{"UnknownSchool", inventory.DeviceFilter{SchoolIDs: []uuid.UUID{uuid.New()}}, func(*fleet, int, *inventory.Device) bool { return false }},
		{"SearchHostname", inventory.DeviceFilter{Search: "LAB"}, func(fl *fleet, i int, d *inventory.Device) bool { return contains(d, "lab") }},
		{"SearchUser", inventory.DeviceFilter{Search: "pUpIl1"}, func(fl *fleet, i int, d *inventory.Device) bool { return contains(d, "pupil1") }},
		{"SearchSerial", inventory.DeviceFilter{Search: "sn-b"}, func(fl *fleet, i int, d *inventory.Device) bool { return contains(d, "sn-b") }},
		{"SearchRenamed", inventory.DeviceFilter{Search: "aaa-old"}, func(*fleet, int, *inventory.Device) bool { return false }},
		{"SearchOldUser", inventory.DeviceFilter{Search: "olduser"}, func(*fleet, int, *inventory.Device) bool { return false }},
		{"SearchUnderscore", inventory.DeviceFilter{Search: "_"}, func(fl *fleet, i int, d *inventory.Device) bool { return d.Hostname == "lab_02" }},
		{"SearchPercent", inventory.DeviceFilter{Search: "b%0"}, func(fl *fleet, i int, d *inventory.Device) bool { return d.Hostname == "Lab%03" }},
		{"SearchBackslash", inventory.DeviceFilter{Search: `\`}, func(*fleet, int, *inventory.Device) bool { return false }},
		{"SearchNonASCII", inventory.DeviceFilter{Search: "Är"}, func(fl *fleet, i int, d *inventory.Device) bool { return contains(d, "är") }},
		{"SearchNonASCIIUser", inventory.DeviceFilter{Search: "ülr"}, func(fl *fleet, i int, d *inventory.Device) bool { return contains(d, "ülr") }},
		{"StatusCompliant", inventory.DeviceFilter{Status: inventory.StatusCompliant}, func(fl *fleet, i int, d *inventory.Device) bool {
			return d.Verdict.Status == inventory.StatusCompliant
		}},
		{"StatusNoncompliant", inventory.DeviceFilter{Status: inventory.StatusNoncompliant}, func(fl *fleet, i int, d *inventory.Device) bool {
			return d.Verdict.Status == inventory.StatusNoncompliant
		}},
		{"StatusUnknown", inventory.DeviceFilter{Status: inventory.StatusUnknown}, func(fl *fleet, i int, d *inventory.Device) bool {
			return d.Verdict.Status == inventory.StatusUnknown
		}},
		{"FailingEncryption", inventory.DeviceFilter{FailingRule: inventory.RuleEncryption}, func(fl *fleet, i int, d *inventory.Device) bool {
			return d.Verdict.Fails(inventory.RuleEncryption)
		}},
		{"FailingSeenRecently", inventory.DeviceFilter{FailingRule: inventory.RuleSeenRecently}, func(fl *fleet, i int, d *inventory.Device) bool {
			return d.Verdict.Fails(inventory.RuleSeenRecently)
		}},
		{"FailingScreenLock", inventory.DeviceFilter{FailingRule: inventory.RuleScreenLock}, func(fl *fleet, i int, d *inventory.Device) bool {
			return d.Verdict.Fails(inventory.RuleScreenLock)
		}},
		{"SeenBefore", inventory.DeviceFilter{SeenBefore: before}, func(fl *fleet, i int, d *inventory.Device) bool {
			return d.LastSeenAt.IsZero() || d.LastSeenAt.Before(before)
		}},
		{"SeenSince", inventory.DeviceFilter{SeenSince: since}, func(fl *fleet, i int, d *inventory.Device) bool {
			return !d.LastSeenAt.IsZero() && !d.LastSeenAt.Before(since)
		}},
		{"SeenBetween", inventory.DeviceFilter{SeenSince: before, SeenBefore: since}, func(fl *fleet, i int, d *inventory.Device) bool {
			return !d.LastSeenAt.Before(before) && d.LastSeenAt.Before(since)
		}},
		{"SchoolAndStatus", inventory.DeviceFilter{SchoolIDs: []uuid.UUID{a}, Status: inventory.StatusCompliant},
			func(fl *fleet, i int, d *inventory.Device) bool {
				return in(d, 0) && d.Verdict.Status == inventory.StatusCompliant
			}},
		{"SchoolsRuleSearch", inventory.DeviceFilter{SchoolIDs: []uuid.UUID{b, c}, FailingRule: inventory.RuleEncryption, Search: "BETA"},
			func(fl *fleet, i int, d *inventory.Device) bool {
				return in(d, 1, 2) && d.Verdict.Fails(inventory.RuleEncryption) && contains(d, "beta")
			}},
		{"StatusAndSeen", inventory.DeviceFilter{Status: inventory.StatusNoncompliant, SeenSince: since},
			func(fl *fleet, i int, d *inventory.Device) bool {
				return d.Verdict.Status == inventory.StatusNoncompliant && !d.LastSeenAt.Before(since)
			}},
		{"StatusAndSeenBefore", inventory.DeviceFilter{Status: inventory.StatusUnknown, SeenBefore: late},
			func(fl *fleet, i int, d *inventory.Device) bool {
				return d.Verdict.Status == inventory.StatusUnknown && d.LastSeenAt.Before(late)
			}},
		{"StatusAndRuleDisagree", inventory.DeviceFilter{Status: inventory.StatusCompliant, FailingRule: inventory.RuleEncryption},
			func(*fleet, int, *inventory.Device) bool { return false }},
		{"DueBy", inventory.DeviceFilter{DueBy: fleetDueBy}, func(fl *fleet, i int, d *inventory.Device) bool {
			return due(d, fleetDueBy)
		}},
		{"DueBySchoolA", inventory.DeviceFilter{SchoolIDs: []uuid.UUID{a}, DueBy: fleetDueBy}, func(fl *fleet, i int, d *inventory.Device) bool {
			return in(d, 0) && due(d, fleetDueBy)
		}},
		{"DueBySchoolsBC", inventory.DeviceFilter{SchoolIDs: []uuid.UUID{b, c}, DueBy: fleetDueBy}, func(fl *fleet, i int, d *inventory.Device) bool {
			return in(d, 1, 2) && due(d, fleetDueBy)
		}},
		{"DueByBeforeEveryUntil", inventory.DeviceFilter{SchoolIDs: []uuid.UUID{a, b}, DueBy: ts(t0.Add(-100 * time.Hour))},
			func(fl *fleet, i int, d *inventory.Device) bool { return in(d, 0, 1) && d.Verdict.Status == "" }},
		{"DueByAfterEveryUntil", inventory.DeviceFilter{SchoolIDs: []uuid.UUID{c}, DueBy: ts(t0.Add(100 * time.Hour))},
			func(fl *fleet, i int, d *inventory.Device) bool {
				return in(d, 2) && (d.Verdict.Status == "" || !d.Verdict.Until.IsZero())
			}},
		{"DueByUnknownSchool", inventory.DeviceFilter{SchoolIDs: []uuid.UUID{uuid.New()}, DueBy: fleetDueBy},
			func(*fleet, int, *inventory.Device) bool { return false }},
		{"DueByAndStatus", inventory.DeviceFilter{SchoolIDs: []uuid.UUID{a, c}, Status: inventory.StatusCompliant, DueBy: fleetDueBy},
			func(fl *fleet, i int, d *inventory.Device) bool {
				return in(d, 0, 2) && d.Verdict.Status == inventory.StatusCompliant && due(d, fleetDueBy)
			}},
		{"DueByAndRuleSearch", inventory.DeviceFilter{FailingRule: inventory.RuleEncryption, Search: "b", DueBy: fleetDueBy},
			func(fl *fleet, i int, d *inventory.Device) bool {
				return d.Verdict.Fails(inventory.RuleEncryption) && contains(d, "b") && due(d, fleetDueBy)
			}},
		{"Everything", inventory.DeviceFilter{
			SchoolIDs: []uuid.UUID{a, c}, Search: "lab", Status: inventory.StatusNoncompliant,
			FailingRule: inventory.RuleSeenRecently, SeenBefore: t0.Add(12 * time.Hour), SeenSince: t0.Add(-72 * time.Hour),
		}, func(fl *fleet, i int, d *inventory.Device) bool {
			return in(d, 0, 2) && contains(d, "lab") && d.Verdict.Fails(inventory.RuleSeenRecently) &&
				d.Verdict.Status == inventory.StatusNoncompliant
		}},
	}
}

// inOrder returns ds in order s as the contract defines it: devices with
// a key first, by key (the most recent first for last_seen), then by ID;
// devices without a key last, by ID.
func inOrder(ds []*inventory.Device, s inventory.DeviceSort) []*inventory.Device {
	out := slices.Clone(ds)
	slices.SortFunc(out, func(a, b *inventory.Device) int {
		if s != inventory.SortByID {
			ka, kb := a.SortKey(s), b.SortKey(s)
			switch {
			case ka == "" && kb != "":
				return 1
			case ka != "" && kb == "":
				return -1
			}
			if c := strings.Compare(ka, kb); c != 0 {
				if s == inventory.SortByLastSeen {
					return -c
				}
				return c
			}
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return out
}

// walk reads every page of f, limit devices at a time, following the
// cursor of each page's last device.
func (e *env) walk(f inventory.DeviceFilter, limit int) []*inventory.Device {
	e.t.Helper()
	f.Limit = limit
	var got []*inventory.Device
	for range 200 {
		page, err := e.s.FindDevices(e.ctx, f)
		if err != nil {
			e.t.Fatalf("FindDevices(%+v): %v", f, err)
		}
		if page == nil {
			e.t.Fatal("FindDevices returned a nil slice, want an empty one")
		}
		if len(page) > limit {
			e.t.Fatalf("page of %d devices, limit %d", len(page), limit)
		}
		got = append(got, page...)
		if len(page) < limit {
			return got
		}
		last := page[len(page)-1]
		f.After, f.AfterKey = last.ID, last.SortKey(f.Sort)
	}
	e.t.Fatal("FindDevices did not reach the end in 200 pages")
	return nil
}

// testDashboard tests what the dashboard reads and keeps: the device
// list's filters, orders and counts, stored verdicts, and the daily
// compliance history.
func (su suite) testDashboard(t *testing.T) {
	t.Run("FindDevices/FiltersAndSorts", func(t *testing.T) {
		e := su.fresh(t)
		fl := e.fleet()
		for _, tc := range fleetCases(fl) {
			var want []*inventory.Device
			for i, d := range fl.devices {
				if tc.keep(fl, i, d) {
					want = append(want, d)
				}
			}
			for _, s := range inventory.DeviceSorts {
				for _, limit := range []int{1, 4, 100} {
					name := fmt.Sprintf("%s/%s/%d", tc.name, sortName(s), limit)
					f := tc.f
					f.Sort = s
					got := e.walk(f, limit)
					equal(t, name, fl.labels(got), fl.labels(inOrder(want, s)))
				}
			}
		}
	})

	t.Run("FindDevices/Sorts", func(t *testing.T) {
		// The orders spelt out, so that a mistake shared by the store and
		// inOrder still shows.
		e := su.fresh(t)
		fl := e.fleet()
		f := inventory.DeviceFilter{SchoolIDs: []uuid.UUID{fl.schools[2].ID}}
		byHost := func(ds []*inventory.Device) []string {
			out := make([]string, len(ds))
			for i, d := range ds {
				out[i] = d.Hostname + "/" + d.Serial
			}
			return out
		}
		for _, tc := range []struct {
			sort inventory.DeviceSort
			want []string
		}{
			{inventory.SortByHostname, []string{"delta/SN-C3", "Delta/SN-C4", "epsilon/SN-C5", "mu/SN-C9", "Nu/", "omega/SN-C7", "Ärger/ÄB-1", "ärger/äb-2", "/"}},
			{inventory.SortBySerial, []string{"delta/SN-C3", "Delta/SN-C4", "epsilon/SN-C5", "omega/SN-C7", "mu/SN-C9", "Ärger/ÄB-1", "ärger/äb-2", "/", "Nu/"}},
			{inventory.SortByLastSeen, []string{"omega/SN-C7", "/", "delta/SN-C3", "Delta/SN-C4", "Ärger/ÄB-1", "ärger/äb-2", "mu/SN-C9", "Nu/", "epsilon/SN-C5"}},
			{inventory.SortByStatus, []string{"delta/SN-C3", "/", "Ärger/ÄB-1", "omega/SN-C7", "mu/SN-C9", "ärger/äb-2", "epsilon/SN-C5", "Nu/", "Delta/SN-C4"}},
		} {
			f.Sort = tc.sort
			equal(t, string(tc.sort), byHost(e.walk(f, 2)), tc.want)
		}
	})

	t.Run("FindDevices/ErrInvalid", func(t *testing.T) {
		e := su.fresh(t)
		d := e.device("SN1")
		for _, tc := range []struct {
			name  string
			f     inventory.DeviceFilter
			parts []string
			count bool // CountDevices rejects it too; it ignores the sort and cursor
		}{
			{"Sort", inventory.DeviceFilter{Sort: "colour"}, []string{"colour", "hostname", "serial", "last_seen", "status"}, false},
			{"Status", inventory.DeviceFilter{Status: "not_required"}, []string{"not_required", "compliant", "noncompliant", "unknown"}, true},
			{"Rule", inventory.DeviceFilter{FailingRule: "firewall"}, []string{"firewall", "encryption", "seen_recently"}, true},
			{"KeyInIDOrder", inventory.DeviceFilter{After: d.ID, AfterKey: "lab-sn1"}, []string{"lab-sn1"}, false},
			{"LastSeenKey", inventory.DeviceFilter{Sort: inventory.SortByLastSeen, After: d.ID, AfterKey: "yesterday"},
				[]string{"yesterday", "2006-01-02T15:04:05.000000Z"}, false},
			{"StatusKey", inventory.DeviceFilter{Sort: inventory.SortByStatus, After: d.ID, AfterKey: "noncompliant"},
				[]string{"noncompliant", "0, 1, 2 or 3"}, false},
			{"StatusNoKey", inventory.DeviceFilter{Sort: inventory.SortByStatus, After: d.ID}, []string{"status"}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.s.FindDevices(e.ctx, tc.f)
				wantCode(t, err, inventory.EINVALID)
				wantMessage(t, err, tc.parts...)
				_, err = e.s.CountDevices(e.ctx, tc.f, t0)
				if tc.count {
					wantCode(t, err, inventory.EINVALID)
				} else {
					wantCode(t, err, "")
				}
				_, errBySchool := e.s.CountDevicesBySchool(e.ctx, tc.f, t0)
				wantCode(t, errBySchool, inventory.ErrorCode(err))
			})
		}
	})

	t.Run("FindDevices/CursorFromStart", func(t *testing.T) {
		// A key without an ID starts at that key, as Rejudge uses it to
		// find the devices not judged yet.
		e := su.fresh(t)
		fl := e.fleet()
		got := e.walk(inventory.DeviceFilter{Sort: inventory.SortByStatus, AfterKey: inventory.StatusRank("")}, 3)
		var want []*inventory.Device
		for _, d := range fl.devices {
			if d.Verdict.Status == "" {
				want = append(want, d)
			}
		}
		equal(t, "devices not judged", fl.labels(got), fl.labels(inOrder(want, inventory.SortByID)))

		// With a status filter, a cursor before, at and past its rank.
		var unknown []*inventory.Device
		for _, d := range fl.devices {
			if d.Verdict.Status == inventory.StatusUnknown {
				unknown = append(unknown, d)
			}
		}
		unknown = inOrder(unknown, inventory.SortByID)
		for _, tc := range []struct {
			name  string
			after uuid.UUID
			key   string
			want  []*inventory.Device
		}{
			{"Before", fl.devices[1].ID, inventory.StatusRank(inventory.StatusNoncompliant), unknown},
			{"At", unknown[1].ID, inventory.StatusRank(inventory.StatusUnknown), unknown[2:]},
			{"Past", fl.devices[0].ID, inventory.StatusRank(inventory.StatusCompliant), nil},
		} {
			got := e.walk(inventory.DeviceFilter{Sort: inventory.SortByStatus, Status: inventory.StatusUnknown, After: tc.after, AfterKey: tc.key}, 2)
			equal(t, "unknown devices after a cursor "+tc.name, fl.labels(got), fl.labels(tc.want))
		}

		got = e.walk(inventory.DeviceFilter{Sort: inventory.SortByHostname, AfterKey: "m"}, 3)
		want = want[:0]
		for _, d := range fl.devices {
			if k := d.SortKey(inventory.SortByHostname); k == "" || k >= "m" {
				want = append(want, d)
			}
		}
		equal(t, "hostnames from m", fl.labels(got), fl.labels(inOrder(want, inventory.SortByHostname)))
	})

	t.Run("CountDevices", func(t *testing.T) {
		e := su.fresh(t)
		fl := e.fleet()
		cutoff := ts(t0.Add(2 * time.Hour))
		for _, tc := range fleetCases(fl) {
			t.Run(tc.name, func(t *testing.T) {
				want := inventory.DeviceCounts{Failing: map[string]int{}, Unknowns: map[string]int{}}
				for _, r := range inventory.Rules {
					want.Failing[r], want.Unknowns[r] = 0, 0
				}
				for i, d := range fl.devices {
					if !tc.keep(fl, i, d) {
						continue
					}
					want.Total++
					switch d.Verdict.Status {
					case inventory.StatusCompliant:
						want.Compliant++
					case inventory.StatusNoncompliant:
						want.Noncompliant++
					case "":
						want.Unknown++
						want.Unjudged++
					default:
						want.Unknown++
					}
					if d.LastSeenAt.IsZero() || d.LastSeenAt.Before(cutoff) {
						want.Unseen++
					}
					for _, r := range d.Verdict.Failing {
						want.Failing[r]++
					}
					for _, r := range d.Verdict.Unknown {
						want.Unknowns[r]++
					}
				}
				// The cursor, limit and sort make no difference.
				f := tc.f
				f.Sort, f.After, f.AfterKey, f.Limit = inventory.SortByHostname, fl.devices[0].ID, "m", 1
				got, err := e.s.CountDevices(e.ctx, f, cutoff)
				if err != nil {
					t.Fatal(err)
				}
				equal(t, "counts", got, want)
				// The capped count agrees up to its cap.
				for _, max := range []int{0, 2, 100} {
					n, err := e.s.CountDevicesUpTo(e.ctx, f, max)
					if err != nil {
						t.Fatal(err)
					}
					equal(t, fmt.Sprintf("CountDevicesUpTo(%d)", max), n, min(want.Total, max+1))
				}
			})
		}
	})

	t.Run("CountDevices/Figures", func(t *testing.T) {
		// The whole fleet's counts spelt out.
		e := su.fresh(t)
		e.fleet()
		got, err := e.s.CountDevices(e.ctx, inventory.DeviceFilter{}, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		// Unjudged and Unknowns are checked against the model above.
		equal(t, "counts", got, inventory.DeviceCounts{
			Total: 26, Compliant: 10, Noncompliant: 7, Unknown: 9, Unseen: 6, Unjudged: got.Unjudged,
			Failing:  map[string]int{"encryption": 4, "antivirus": 1, "screen_lock": 2, "seen_recently": 2},
			Unknowns: got.Unknowns,
		})
		// With no cutoff only devices never seen count as unseen.
		got, err = e.s.CountDevices(e.ctx, inventory.DeviceFilter{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "unseen without a cutoff", got.Unseen, 0)
	})

	t.Run("CountDevices/Empty", func(t *testing.T) {
		e := su.fresh(t)
		got, err := e.s.CountDevices(e.ctx, inventory.DeviceFilter{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		zero := map[string]int{"encryption": 0, "antivirus": 0, "screen_lock": 0, "seen_recently": 0}
		equal(t, "counts", got, inventory.DeviceCounts{Failing: zero, Unknowns: zero})
	})

	t.Run("CountDevicesBySchool", func(t *testing.T) {
		// Each school's entry is CountDevices of that school alone, and a
		// school none of whose devices f selects has none.
		e := su.fresh(t)
		fl := e.fleet()
		empty := e.school("d")
		schools := append(slices.Clone(fl.schools), empty)
		for _, tc := range fleetCases(fl) {
			t.Run(tc.name, func(t *testing.T) {
				var wantSchools []uuid.UUID
				for i, d := range fl.devices {
					if tc.keep(fl, i, d) && !slices.Contains(wantSchools, d.SchoolID) {
						wantSchools = append(wantSchools, d.SchoolID)
					}
				}
				for _, cutoff := range []time.Time{ts(t0.Add(2 * time.Hour)), {}} {
					want := map[uuid.UUID]inventory.DeviceCounts{}
					for _, sc := range schools {
						if tc.f.SchoolIDs != nil && !slices.Contains(tc.f.SchoolIDs, sc.ID) {
							continue
						}
						one := tc.f
						one.SchoolIDs = []uuid.UUID{sc.ID}
						c, err := e.s.CountDevices(e.ctx, one, cutoff)
						if err != nil {
							t.Fatal(err)
						}
						if slices.Contains(wantSchools, sc.ID) {
							want[sc.ID] = c
						} else {
							equal(t, "CountDevices of a school with none selected", c.Total, 0)
						}
					}
					// The cursor, limit and sort make no difference.
					f := tc.f
					f.Sort, f.After, f.AfterKey, f.Limit = inventory.SortByHostname, fl.devices[0].ID, "m", 1
					got, err := e.s.CountDevicesBySchool(e.ctx, f, cutoff)
					if err != nil {
						t.Fatal(err)
					}
					equal(t, fmt.Sprintf("counts by school, unseen before %v", cutoff), got, want)
					if _, ok := got[empty.ID]; ok {
						t.Fatalf("school %s without devices has an entry", empty.Slug)
					}
				}
			})
		}
	})

	t.Run("Verdict/Enroll", func(t *testing.T) {
		e := su.fresh(t)
		tok := e.token(e.school("a").ID, 3)
		r := enrollRequest(tok, "SN1")
		r.Verdict = vAVUnseen
		d, err := e.s.EnrollDevice(e.ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "verdict returned", d.Verdict, vAVUnseen)
		equal(t, "verdict stored", e.findDevice(d.ID).Verdict, vAVUnseen)

		// Enrolling again replaces it, even with none.
		for _, v := range []inventory.Verdict{vUnknown2, vNotJudged} {
			r := enrollRequest(tok, "SN1")
			r.Verdict = v
			again, err := e.s.EnrollDevice(e.ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if again.ID != d.ID {
				t.Fatalf("enrolling again made device %s, want %s", again.ID, d.ID)
			}
			equal(t, "verdict after enrolling again", e.findDevice(d.ID).Verdict, v)
		}
	})

	t.Run("Verdict/Enroll/ErrInvalid", func(t *testing.T) {
		e := su.fresh(t)
		tok := e.token(e.school("a").ID, 1)
		r := enrollRequest(tok, "SN1")
		r.Verdict = inventory.Verdict{Status: "great"}
		_, err := e.s.EnrollDevice(e.ctx, r)
		wantCode(t, err, inventory.EINVALID)
		equal(t, "token uses after a rejected enrolment", e.findToken(tok.ID).Uses, 0)
		equal(t, "devices after a rejected enrolment", len(e.allDevices()), 0)
	})

	t.Run("Verdict/Report", func(t *testing.T) {
		e := su.fresh(t)
		d := e.device("SN1")
		equal(t, "verdict of a device enrolled without one", d.Verdict, vNotJudged)
		for i, v := range []inventory.Verdict{vEncLock, vCompliant, vNotJudged, vUnseen} {
			r := report("SN1")
			r.Hardware.Hostname = fmt.Sprintf("lab-%d", i)
			c := inventory.CheckIn{DeviceID: d.ID, Hash: hashOf(r), Report: &r, At: t0.Add(time.Duration(i+1) * time.Hour), Verdict: v}
			if err := e.s.RecordCheckIn(e.ctx, c); err != nil {
				t.Fatal(err)
			}
			equal(t, fmt.Sprintf("verdict after report %d", i), e.findDevice(d.ID).Verdict, v)
		}
		r := report("SN1")
		c := inventory.CheckIn{DeviceID: d.ID, Hash: hashOf(r), Report: &r, At: t0.Add(time.Hour),
			Verdict: inventory.Verdict{Status: inventory.StatusNoncompliant, Failing: []string{"firewall"}}}
		wantCode(t, e.s.RecordCheckIn(e.ctx, c), inventory.EINVALID)
		equal(t, "verdict after a rejected report", e.findDevice(d.ID).Verdict, vUnseen)
	})

	t.Run("Verdict/Until", func(t *testing.T) {
		// Until is stored with the verdict wherever one is written, in
		// UTC to the microsecond, and zero is kept as zero.
		zone := time.FixedZone("UTC+5:30", 5*3600+1800)
		soon, later := t0.Add(72*time.Hour).In(zone), t0.Add(-time.Hour)
		with := func(v inventory.Verdict, until time.Time) inventory.Verdict {
			v.Until = until
			return v
		}
		stored := func(v inventory.Verdict) inventory.Verdict {
			v.Until = ts(v.Until)
			return v
		}
		e := su.fresh(t)
		tok := e.token(e.school("a").ID, 10)
		verdicts := []inventory.Verdict{
			with(vCompliant, soon), with(vAVUnseen, later), vEncryption,
			with(vUnknownLS, later), with(vNotJudged, soon), vNotJudged,
		}
		var id uuid.UUID
		for i, v := range verdicts {
			t.Run(fmt.Sprintf("Enroll/%d", i), func(t *testing.T) {
				r := enrollRequest(tok, "SN1")
				r.Verdict = v
				d, err := e.s.EnrollDevice(e.ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				id = d.ID
				equal(t, "verdict returned", d.Verdict, stored(v))
				equal(t, "verdict stored", e.findDevice(d.ID).Verdict, stored(v))
			})
		}
		for i, v := range verdicts {
			t.Run(fmt.Sprintf("Report/%d", i), func(t *testing.T) {
				r := report("SN1")
				r.Hardware.Hostname = fmt.Sprintf("lab-%d", i)
				c := inventory.CheckIn{DeviceID: id, Hash: hashOf(r), Report: &r, At: t0.Add(time.Duration(i+1) * time.Hour), Verdict: v}
				if err := e.s.RecordCheckIn(e.ctx, c); err != nil {
					t.Fatal(err)
				}
				equal(t, "verdict after report", e.findDevice(id).Verdict, stored(v))
			})
		}
		for i, v := range verdicts {
			t.Run(fmt.Sprintf("SetDeviceVerdict/%d", i), func(t *testing.T) {
				if err := e.s.SetDeviceVerdict(e.ctx, id, v); err != nil {
					t.Fatal(err)
				}
				equal(t, "verdict after SetDeviceVerdict", e.findDevice(id).Verdict, stored(v))
			})
		}
		// Every read of a device reads it.
		if err := e.s.SetDeviceVerdict(e.ctx, id, with(vCompliant, soon)); err != nil {
			t.Fatal(err)
		}
		all := e.allDevices()
		if len(all) != 1 {
			t.Fatalf("%d devices, want 1", len(all))
		}
		equal(t, "verdict from FindDevices", all[0].Verdict, stored(with(vCompliant, soon)))
		again, err := e.s.EnrollDevice(e.ctx, func() *inventory.EnrollRequest {
			r := enrollRequest(tok, "SN2")
			r.Verdict = with(vUnseen, soon)
			return r
		}())
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.s.FindDevices(e.ctx, inventory.DeviceFilter{Sort: inventory.SortByStatus, SchoolIDs: []uuid.UUID{again.SchoolID}, Limit: 1})
		if err != nil || len(got) != 1 {
			t.Fatalf("FindDevices: %v, %v", got, err)
		}
		equal(t, "verdict from a sorted page", got[0].Verdict, stored(with(vUnseen, soon)))
		// A rejected verdict leaves Until as it was.
		wantCode(t, e.s.SetDeviceVerdict(e.ctx, id, inventory.Verdict{Status: "great", Until: later}), inventory.EINVALID)
		equal(t, "verdict after a rejected one", e.findDevice(id).Verdict, stored(with(vCompliant, soon)))
	})

	t.Run("Verdict/Heartbeat", func(t *testing.T) {
		for _, tc := range []struct {
			name         string
			stored, want inventory.Verdict
		}{
			{"FailsSeenOnly", vUnseen, vCompliant},
			{"FailsSeenAndMore", inventory.Verdict{Status: inventory.StatusNoncompliant,
				Failing: []string{inventory.RuleAntivirus, inventory.RuleSeenRecently}, Unknown: []string{inventory.RuleScreenLock}},
				inventory.Verdict{Status: inventory.StatusNoncompliant, Failing: []string{inventory.RuleAntivirus}, Unknown: []string{inventory.RuleScreenLock}}},
			{"FailsSeenUnknownMore", inventory.Verdict{Status: inventory.StatusNoncompliant,
				Failing: []string{inventory.RuleSeenRecently}, Unknown: []string{inventory.RuleScreenLock}},
				vUnknownLS},
			{"UnknownSeenOnly", vUnknownSR, vCompliant},
			{"UnknownSeenAndMore", inventory.Verdict{Status: inventory.StatusUnknown,
				Unknown: []string{inventory.RuleScreenLock, inventory.RuleSeenRecently}}, vUnknownLS},
			{"FailsOther", vEncryption, vEncryption},
			{"Unknown", vUnknownAV, vUnknownAV},
			{"Compliant", vCompliant, vCompliant},
			{"NotJudged", vNotJudged, vNotJudged},
		} {
			// Each case with no Until and with one, which the heartbeat
			// keeps.
			for _, until := range []time.Time{{}, t0.Add(30 * time.Hour)} {
				name := tc.name
				if !until.IsZero() {
					name += "/Until"
				}
				t.Run(name, func(t *testing.T) {
					e := su.fresh(t)
					d := e.device("SN1")
					stored := tc.stored
					stored.Until = until
					if err := e.s.SetDeviceVerdict(e.ctx, d.ID, stored); err != nil {
						t.Fatal(err)
					}
					stored.Until = ts(until)
					// A heartbeat that is refused changes nothing.
					err := e.s.RecordCheckIn(e.ctx, inventory.CheckIn{DeviceID: d.ID, Hash: hashOf("other"), At: t0.Add(time.Hour)})
					wantCode(t, err, inventory.EREPORTREQUIRED)
					equal(t, "verdict after a refused heartbeat", e.findDevice(d.ID).Verdict, stored)

					at := t0.Add(2 * time.Hour)
					if err := e.s.RecordCheckIn(e.ctx, inventory.CheckIn{DeviceID: d.ID, Hash: d.ReportHash, At: at}); err != nil {
						t.Fatal(err)
					}
					want := *d
					want.LastSeenAt, want.Verdict = ts(at), tc.want
					want.Verdict.Until = ts(until)
					equal(t, "device after heartbeat", e.findDevice(d.ID), &want)
				})
			}
		}
	})

	t.Run("SetDeviceVerdict", func(t *testing.T) {
		e := su.fresh(t)
		a, b := e.device("SN1"), e.device("SN2")
		if err := e.s.SetDeviceVerdict(e.ctx, a.ID, vEncLock); err != nil {
			t.Fatal(err)
		}
		want := *a
		want.Verdict = vEncLock
		equal(t, "device after SetDeviceVerdict", e.findDevice(a.ID), &want)
		equal(t, "other device", e.findDevice(b.ID), b)

		// Rules are stored in the order of inventory.Rules.
		err := e.s.SetDeviceVerdict(e.ctx, a.ID, inventory.Verdict{Status: inventory.StatusNoncompliant,
			Failing: []string{inventory.RuleSeenRecently, inventory.RuleEncryption},
			Unknown: []string{inventory.RuleScreenLock, inventory.RuleAntivirus}})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "verdict given out of order", e.findDevice(a.ID).Verdict, inventory.Verdict{Status: inventory.StatusNoncompliant,
			Failing: []string{inventory.RuleEncryption, inventory.RuleSeenRecently},
			Unknown: []string{inventory.RuleAntivirus, inventory.RuleScreenLock}})

		// Empty lists read back as none.
		if err := e.s.SetDeviceVerdict(e.ctx, a.ID, inventory.Verdict{Status: inventory.StatusCompliant, Failing: []string{}, Unknown: []string{}}); err != nil {
			t.Fatal(err)
		}
		equal(t, "verdict with empty lists", e.findDevice(a.ID).Verdict, vCompliant)
		if err := e.s.SetDeviceVerdict(e.ctx, a.ID, vNotJudged); err != nil {
			t.Fatal(err)
		}
		equal(t, "verdict cleared", e.findDevice(a.ID).Verdict, vNotJudged)
	})

	t.Run("SetDeviceVerdict/Errors", func(t *testing.T) {
		e := su.fresh(t)
		d := e.device("SN1")
		if err := e.s.SetDeviceVerdict(e.ctx, d.ID, vUnseen); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			id    uuid.UUID
			v     inventory.Verdict
			code  string
			parts []string
		}{
			{"NotFound", uuid.New(), vCompliant, inventory.ENOTFOUND, nil},
			{"Status", d.ID, inventory.Verdict{Status: inventory.StatusNotRequired}, inventory.EINVALID, []string{"not_required", "compliant"}},
			{"Rule", d.ID, inventory.Verdict{Status: inventory.StatusNoncompliant, Failing: []string{"enc,ryption"}}, inventory.EINVALID, []string{"enc,ryption", "encryption"}},
			{"UnknownRule", d.ID, inventory.Verdict{Status: inventory.StatusUnknown, Unknown: []string{""}}, inventory.EINVALID, []string{"screen_lock"}},
			{"Twice", d.ID, inventory.Verdict{Status: inventory.StatusNoncompliant,
				Failing: []string{inventory.RuleEncryption}, Unknown: []string{inventory.RuleEncryption}}, inventory.EINVALID, []string{"encryption"}},
			{"RulesWithoutStatus", d.ID, inventory.Verdict{Failing: []string{inventory.RuleEncryption}}, inventory.EINVALID, nil},
			{"FailsButUnknown", d.ID, inventory.Verdict{Status: inventory.StatusUnknown, Failing: []string{inventory.RuleEncryption}},
				inventory.EINVALID, []string{"encryption", "noncompliant"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := e.s.SetDeviceVerdict(e.ctx, tc.id, tc.v)
				wantCode(t, err, tc.code)
				wantMessage(t, err, tc.parts...)
				equal(t, "verdict kept", e.findDevice(d.ID).Verdict, vUnseen)
			})
		}
	})

	t.Run("MarkUnseen", func(t *testing.T) {
		e := su.fresh(t)
		a, b := e.school("a"), e.school("b")
		ta, tb := e.token(a.ID, 10), e.token(b.ID, 10)
		before := t0
		type dev struct {
			tok     *inventory.EnrollToken
			seen    time.Duration
			verdict inventory.Verdict
			want    inventory.Verdict
		}
		devs := []dev{
			{ta, -time.Hour, vCompliant, vUnseen},
			{ta, -time.Hour, vEncLock, inventory.Verdict{Status: inventory.StatusNoncompliant,
				Failing: []string{inventory.RuleEncryption, inventory.RuleScreenLock, inventory.RuleSeenRecently}}},
			{ta, -48 * time.Hour, vUnknownSR, vUnseen},
			{ta, -48 * time.Hour, inventory.Verdict{Status: inventory.StatusUnknown,
				Unknown: []string{inventory.RuleAntivirus, inventory.RuleSeenRecently}},
				inventory.Verdict{Status: inventory.StatusNoncompliant,
					Failing: []string{inventory.RuleSeenRecently}, Unknown: []string{inventory.RuleAntivirus}}},
			{ta, -time.Hour, vUnknownAV, inventory.Verdict{Status: inventory.StatusNoncompliant,
				Failing: []string{inventory.RuleSeenRecently}, Unknown: []string{inventory.RuleAntivirus}}},
			{ta, -time.Hour, vAVUnseen, vAVUnseen},          // fails it already
			{ta, -time.Hour, vNotJudged, vNotJudged},        // not judged
			{ta, 0, vCompliant, vCompliant},                 // seen at the cutoff
			{ta, time.Hour, vEncryption, vEncryption},       // seen since
			{tb, -48 * time.Hour, vCompliant, vCompliant},   // another school
			{tb, -48 * time.Hour, vEncryption, vEncryption}, // another school
		}
		// Every other device has an Until, which marking leaves alone.
		untilOf := func(i int) time.Time {
			if i%2 == 1 {
				return time.Time{}
			}
			return ts(t0.Add(time.Duration(i+1) * time.Hour))
		}
		ids := make([]uuid.UUID, len(devs))
		for i, dv := range devs {
			r := enrollRequest(dv.tok, fmt.Sprintf("SN%d", i))
			r.At, r.Verdict = before.Add(dv.seen), dv.verdict
			r.Verdict.Until = untilOf(i)
			d, err := e.s.EnrollDevice(e.ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = d.ID
		}
		n, err := e.s.MarkUnseen(e.ctx, a.ID, before)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "devices marked", n, 5)
		for i, dv := range devs {
			want := dv.want
			want.Until = untilOf(i)
			equal(t, fmt.Sprintf("verdict of device %d", i), e.findDevice(ids[i]).Verdict, want)
		}
		// Marking again changes nothing.
		if n, err := e.s.MarkUnseen(e.ctx, a.ID, before); err != nil || n != 0 {
			t.Fatalf("MarkUnseen again = %d, %v; want 0", n, err)
		}
		got, err := e.s.FindDevices(e.ctx, inventory.DeviceFilter{SchoolIDs: []uuid.UUID{a.ID}, FailingRule: inventory.RuleSeenRecently})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "devices failing seen_recently", len(got), 6)
		c, err := e.s.CountDevices(e.ctx, inventory.DeviceFilter{SchoolIDs: []uuid.UUID{a.ID}}, before)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "counts after marking", c, inventory.DeviceCounts{
			Total: 9, Compliant: 1, Noncompliant: 7, Unknown: 1, Unseen: 7, Unjudged: c.Unjudged,
			Failing:  map[string]int{"encryption": 2, "antivirus": 1, "screen_lock": 1, "seen_recently": 6},
			Unknowns: c.Unknowns,
		})
		// A school with nothing to mark, and one that does not exist.
		for _, id := range []uuid.UUID{b.ID, uuid.New()} {
			if n, err := e.s.MarkUnseen(e.ctx, id, t0.Add(-72*time.Hour)); err != nil || n != 0 {
				t.Errorf("MarkUnseen(%s) = %d, %v; want 0", id, n, err)
			}
		}
		// A heartbeat clears the mark again.
		d := e.findDevice(ids[0])
		if err := e.s.RecordCheckIn(e.ctx, inventory.CheckIn{DeviceID: d.ID, Hash: d.ReportHash, At: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		equal(t, "verdict after heartbeat", e.findDevice(d.ID).Verdict, inventory.Verdict{Status: inventory.StatusCompliant, Until: untilOf(0)})
	})

	t.Run("Rejudge", func(t *testing.T) {
		// The sweep judges the devices that are due, and only those, and
		// then none are due.
		e := su.fresh(t)
		a, b := e.school("a"), e.school("b")
		ta, tb := e.token(a.ID, 10), e.token(b.ID, 10)
		now := t0.Add(time.Hour)
		devs := []struct {
			tok     *inventory.EnrollToken
			verdict inventory.Verdict
			due     bool
		}{
			{ta, vNotJudged, true},
			{ta, inventory.Verdict{Status: inventory.StatusCompliant, Until: now.Add(-time.Minute)}, true},
			{ta, inventory.Verdict{Status: inventory.StatusCompliant, Until: now}, true},
			{ta, inventory.Verdict{Status: inventory.StatusCompliant, Until: now.Add(time.Minute)}, false},
			{ta, vEncLock, false},
			{tb, vNotJudged, false}, // another school
		}
		ids := make([]uuid.UUID, len(devs))
		for i, dv := range devs {
			r := enrollRequest(dv.tok, fmt.Sprintf("SN%d", i))
			r.Verdict = dv.verdict
			d, err := e.s.EnrollDevice(e.ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = d.ID
		}
		n, err := inventory.Rejudge(e.ctx, e.s, a.ID, now)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "devices judged", n, 3)
		for i, dv := range devs {
			got := e.findDevice(ids[i]).Verdict
			// report's antivirus definitions are far older than the
			// limit, so a device judged now fails it.
			if judged := got.Fails(inventory.RuleAntivirus); judged != dv.due {
				t.Errorf("device %d: verdict %s, judged %v, want %v", i, dump(got), judged, dv.due)
			}
		}
		if n, err := inventory.Rejudge(e.ctx, e.s, a.ID, now); err != nil || n != 0 {
			t.Errorf("Rejudge again = %d, %v; want 0", n, err)
		}
	})

	t.Run("RecordComplianceDay", func(t *testing.T) {
		e := su.fresh(t)
		a, b := e.school("a"), e.school("b")
		day := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
		for _, d := range []inventory.ComplianceDay{
			{SchoolID: a.ID, Day: day, Devices: 10, Compliant: 5, Noncompliant: 3, Unknown: 2},
			{SchoolID: b.ID, Day: day, Devices: 4, Compliant: 4},
			// The same school and day, given as another time of that
			// day in another zone: replaces the first.
			{SchoolID: a.ID, Day: time.Date(2025, 9, 1, 23, 30, 0, 0, time.FixedZone("x", 3600)), Devices: 12, Compliant: 6, Noncompliant: 4, Unknown: 2},
		} {
			if err := e.s.RecordComplianceDay(e.ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		got, err := e.s.FindComplianceDays(e.ctx, nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		want := []inventory.ComplianceDay{
			{SchoolID: a.ID, Day: day, Devices: 12, Compliant: 6, Noncompliant: 4, Unknown: 2},
			{SchoolID: b.ID, Day: day, Devices: 4, Compliant: 4},
		}
		if bytes.Compare(a.ID[:], b.ID[:]) > 0 {
			want[0], want[1] = want[1], want[0]
		}
		equal(t, "days", got, want)
	})

	t.Run("RecordComplianceDays", func(t *testing.T) {
		// Each school's day holds its devices' counts, and a school
		// without devices gets a day of zeros.
		e := su.fresh(t)
		fl := e.fleet()
		empty := e.school("d")
		now := t0.Add(3 * time.Hour)
		if err := inventory.RecordComplianceDays(e.ctx, e.s, now); err != nil {
			t.Fatal(err)
		}
		want := []inventory.ComplianceDay{}
		for _, sc := range append(slices.Clone(fl.schools), empty) {
			c, err := e.s.CountDevices(e.ctx, inventory.DeviceFilter{SchoolIDs: []uuid.UUID{sc.ID}}, now)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, inventory.ComplianceDay{SchoolID: sc.ID, Day: now.UTC().Truncate(24 * time.Hour),
				Devices: c.Total, Compliant: c.Compliant, Noncompliant: c.Noncompliant, Unknown: c.Unknown})
		}
		slices.SortFunc(want, func(a, b inventory.ComplianceDay) int { return bytes.Compare(a.SchoolID[:], b.SchoolID[:]) })
		got, err := e.s.FindComplianceDays(e.ctx, nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "days", got, want)
	})

	t.Run("RecordComplianceDay/Errors", func(t *testing.T) {
		e := su.fresh(t)
		a := e.school("a")
		for _, tc := range []struct {
			name string
			d    inventory.ComplianceDay
			code string
		}{
			{"UnknownSchool", inventory.ComplianceDay{SchoolID: uuid.New(), Day: t0}, inventory.ENOTFOUND},
			{"NoDay", inventory.ComplianceDay{SchoolID: a.ID}, inventory.EINVALID},
			{"Negative", inventory.ComplianceDay{SchoolID: a.ID, Day: t0, Devices: 1, Unknown: -1}, inventory.EINVALID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantCode(t, e.s.RecordComplianceDay(e.ctx, tc.d), tc.code)
			})
		}
		got, err := e.s.FindComplianceDays(e.ctx, nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "days after errors", got, []inventory.ComplianceDay{})
	})

	t.Run("FindComplianceDays", func(t *testing.T) {
		e := su.fresh(t)
		schools := []*inventory.School{e.school("a"), e.school("b"), e.school("c")}
		day := func(n int) time.Time { return time.Date(2025, 9, 1+n, 0, 0, 0, 0, time.UTC) }
		// Recorded out of order; school i has days i..4, each counting
		// 10*i + day devices.
		var all []inventory.ComplianceDay
		for _, n := range []int{3, 0, 4, 1, 2} {
			for i := len(schools) - 1; i >= 0; i-- {
				if n < i {
					continue
				}
				d := inventory.ComplianceDay{SchoolID: schools[i].ID, Day: day(n), Devices: 10*i + n, Compliant: n}
				if err := e.s.RecordComplianceDay(e.ctx, d); err != nil {
					t.Fatal(err)
				}
				all = append(all, d)
			}
		}
		slices.SortFunc(all, func(a, b inventory.ComplianceDay) int {
			if c := a.Day.Compare(b.Day); c != 0 {
				return c
			}
			return bytes.Compare(a.SchoolID[:], b.SchoolID[:])
		})
		keep := func(since time.Time, schools ...*inventory.School) []inventory.ComplianceDay {
			out := []inventory.ComplianceDay{}
			for _, d := range all {
				if d.Day.Before(since) {
					continue
				}
				if schools != nil && !slices.ContainsFunc(schools, func(s *inventory.School) bool { return s.ID == d.SchoolID }) {
					continue
				}
				out = append(out, d)
			}
			return out
		}
		for _, tc := range []struct {
			name    string
			schools []*inventory.School
			since   time.Time
		}{
			{"All", nil, time.Time{}},
			{"One", []*inventory.School{schools[1]}, time.Time{}},
			{"Two", []*inventory.School{schools[0], schools[2]}, time.Time{}},
			{"None", []*inventory.School{}, time.Time{}},
			{"SinceMidnight", nil, day(2)},
			{"SinceNoon", nil, day(2).Add(12 * time.Hour)},
			{"SinceLater", []*inventory.School{schools[0]}, day(9)},
			{"SinceInAnotherZone", nil, day(2).In(time.FixedZone("x", -3600))},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var ids []uuid.UUID
				if tc.schools != nil {
					ids = []uuid.UUID{}
					for _, s := range tc.schools {
						ids = append(ids, s.ID)
					}
				}
				got, err := e.s.FindComplianceDays(e.ctx, ids, tc.since)
				if err != nil {
					t.Fatal(err)
				}
				equal(t, "days", got, keep(tc.since, tc.schools...))
			})
		}
	})
}

// sortName names an order in a failure message.
func sortName(s inventory.DeviceSort) string {
	if s == inventory.SortByID {
		return "id"
	}
	return string(s)
}
