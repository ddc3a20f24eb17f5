package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

func (su suite) testDeviceStore(t *testing.T) {
	t.Run("FindPostureSnapshots", func(t *testing.T) {
		e := su.fresh(t)
		d := e.device("SN1") // enrolment stored the first snapshot at t0
		for i := 1; i <= 3; i++ {
			r := report("SN1")
			r.Posture.ScreenLock.IdleLockSeconds = int64(60 * i)
			c := inventory.CheckIn{DeviceID: d.ID, Hash: hashOf(r), Report: &r, At: t0.Add(time.Duration(i) * time.Hour)}
			if err := e.s.RecordCheckIn(e.ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		snaps, err := e.s.FindPostureSnapshots(e.ctx, d.ID, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(snaps) != 3 {
			t.Fatalf("got %d snapshots, want the newest 3", len(snaps))
		}
		for i, s := range snaps {
			wantSecs := int64(60 * (3 - i))
			if s.DeviceID != d.ID || s.Posture.ScreenLock == nil || s.Posture.ScreenLock.IdleLockSeconds != wantSecs ||
				!s.ReceivedAt.Equal(ts(t0.Add(time.Duration(3-i)*time.Hour))) {
				t.Errorf("snapshot %d = %+v at %v, want idle %d", i, s.Posture.ScreenLock, s.ReceivedAt, wantSecs)
			}
		}
		if none, err := e.s.FindPostureSnapshots(e.ctx, uuid.New(), 0); err != nil || len(none) != 0 {
			t.Errorf("unknown device: %v, %v", none, err)
		}
	})

	t.Run("FindDeviceByID/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		_, err := e.s.FindDeviceByID(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("RecordCheckIn/Heartbeat", func(t *testing.T) {
		e := su.fresh(t)
		d := e.device("SN1")
		at := t0.Add(10 * time.Minute)
		err := e.s.RecordCheckIn(e.ctx, inventory.CheckIn{DeviceID: d.ID, Hash: d.ReportHash, At: at})
		if err != nil {
			t.Fatal(err)
		}
		want := *d
		want.LastSeenAt = ts(at)
		equal(t, "device after heartbeat", e.findDevice(d.ID), &want)
	})

	t.Run("RecordHeartbeats", func(t *testing.T) {
		// One batch holds heartbeats that match, one that does not, one of
		// an unknown device, a device twice, and a device failing
		// seen_recently; each gets its own answer, in order.
		e := su.fresh(t)
		a, b, c, marked := e.device("SN1"), e.device("SN2"), e.device("SN3"), e.device("SN4")
		v := inventory.Verdict{Status: inventory.StatusNoncompliant, Failing: []string{inventory.RuleEncryption, inventory.RuleSeenRecently}}
		if err := e.s.SetDeviceVerdict(e.ctx, marked.ID, v); err != nil {
			t.Fatal(err)
		}
		at := t0.Add(10 * time.Minute)
		cs := []inventory.CheckIn{
			{DeviceID: a.ID, Hash: a.ReportHash, At: at},
			{DeviceID: b.ID, Hash: hashOf("something else"), At: at},
			{DeviceID: uuid.New(), Hash: a.ReportHash, At: at},
			{DeviceID: c.ID, Hash: c.ReportHash, At: at},
			{DeviceID: c.ID, Hash: c.ReportHash, At: at.Add(time.Second)},
			{DeviceID: marked.ID, Hash: marked.ReportHash, At: at},
		}
		errs, err := e.s.RecordHeartbeats(e.ctx, cs)
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) != len(cs) {
			t.Fatalf("%d errors for %d check-ins", len(errs), len(cs))
		}
		for i, want := range []string{"", inventory.EREPORTREQUIRED, inventory.ENOTFOUND, "", "", ""} {
			if got := inventory.ErrorCode(errs[i]); got != want {
				t.Errorf("check-in %d: error %v, want code %q", i, errs[i], want)
			}
		}
		for _, w := range []struct {
			d    *inventory.Device
			seen time.Time
		}{{a, at}, {b, b.LastSeenAt}, {c, at.Add(time.Second)}, {marked, at}} {
			if got := e.findDevice(w.d.ID); !got.LastSeenAt.Equal(ts(w.seen)) {
				t.Errorf("%s last seen %v, want %v", w.d.Serial, got.LastSeenAt, ts(w.seen))
			}
		}
		equal(t, "verdict of the marked device", e.findDevice(marked.ID).Verdict,
			inventory.Verdict{Status: inventory.StatusNoncompliant, Failing: []string{inventory.RuleEncryption}})

		// A report has no place in a batch, and nothing of it is written.
		r := report("SN1")
		_, err = e.s.RecordHeartbeats(e.ctx, []inventory.CheckIn{{DeviceID: a.ID, Hash: a.ReportHash, At: at.Add(time.Hour)}, {DeviceID: a.ID, Hash: hashOf(r), Report: &r, At: at}})
		wantCode(t, err, inventory.EINVALID)
		if got := e.findDevice(a.ID); !got.LastSeenAt.Equal(ts(at)) {
			t.Errorf("refused batch moved last seen to %v", got.LastSeenAt)
		}
		if errs, err := e.s.RecordHeartbeats(e.ctx, nil); err != nil || len(errs) != 0 {
			t.Errorf("empty batch: %v, %v", errs, err)
		}
	})

	t.Run("RecordReports", func(t *testing.T) {
		e := su.fresh(t)
		sc := e.school("a")
		tok := e.token(sc.ID, 3)
		a, _ := e.enroll(tok, "SN1")
		b, _ := e.enroll(tok, "SN2")
		c, _ := e.enroll(tok, "SN3")
		at := t0.Add(time.Hour)
		checkIn := func(d *inventory.Device, serial, host string) inventory.CheckIn {
			r := report(serial)
			r.Hardware.Hostname = host
			return inventory.CheckIn{DeviceID: d.ID, Hash: hashOf(r), Report: &r, At: at}
		}
		if err := e.s.RecordReports(e.ctx, []inventory.CheckIn{checkIn(a, "SN1", "lab-01"), checkIn(b, "SN2", "lab-02")}); err != nil {
			t.Fatal(err)
		}
		for _, w := range []struct {
			d    *inventory.Device
			host string
		}{{a, "lab-01"}, {b, "lab-02"}} {
			got := e.findDevice(w.d.ID)
			if got.Hostname != w.host || !got.LastSeenAt.Equal(ts(at)) {
				t.Errorf("%s after the batch: host %q, last seen %v", w.d.Serial, got.Hostname, got.LastSeenAt)
			}
		}
		// Two reports of one device in a batch: the later is its latest,
		// whatever order the devices around them come in.
		last := checkIn(b, "SN2", "lab-07")
		if err := e.s.RecordReports(e.ctx, []inventory.CheckIn{checkIn(b, "SN2", "lab-05"), checkIn(a, "SN1", "lab-06"), last}); err != nil {
			t.Fatal(err)
		}
		if got := e.findDevice(b.ID); got.Hostname != "lab-07" || got.ReportHash != last.Hash {
			t.Errorf("SN2 after two reports in a batch: host %q, hash %q; want the later, lab-07", got.Hostname, got.ReportHash)
		}
		// One report that cannot be stored (SN1 is a's serial) leaves the
		// whole batch unwritten.
		before := e.findDevice(c.ID)
		err := e.s.RecordReports(e.ctx, []inventory.CheckIn{checkIn(c, "SN3", "lab-03"), checkIn(b, "SN1", "lab-04")})
		wantCode(t, err, inventory.ECONFLICT)
		equal(t, "device of a refused batch", e.findDevice(c.ID), before)
		err = e.s.RecordReports(e.ctx, []inventory.CheckIn{{DeviceID: a.ID, Hash: a.ReportHash, At: at}})
		wantCode(t, err, inventory.EINVALID)
	})

	t.Run("RecordCheckIn/ErrReportRequired", func(t *testing.T) {
		e := su.fresh(t)
		d := e.device("SN1")
		for _, hash := range []string{hashOf("something else"), ""} {
			err := e.s.RecordCheckIn(e.ctx, inventory.CheckIn{DeviceID: d.ID, Hash: hash, At: t0.Add(time.Hour)})
			wantCode(t, err, inventory.EREPORTREQUIRED)
			equal(t, "device after mismatched heartbeat", e.findDevice(d.ID), d)
		}
	})

	t.Run("RecordCheckIn/FullReport", func(t *testing.T) {
		e := su.fresh(t)
		d := e.device("SN1")
		r := report("SN1")
		r.Hardware.Hostname = "lab-07"
		r.Hardware.OSVersion = "10.0.26100"
		r.Hardware.Disks = append(r.Hardware.Disks, inventory.Disk{Name: "sda", SizeBytes: 1 << 40})
		r.Posture.Encryption.Volumes[0].Protection = "off"
		r.Posture.USB = &inventory.USB{Devices: []inventory.USBDevice{{VendorID: "0781", ProductID: "5581", MassStorage: true}}}
		at := t0.Add(time.Hour)
		c := inventory.CheckIn{DeviceID: d.ID, Hash: hashOf(r), Report: &r, At: at}
		if err := e.s.RecordCheckIn(e.ctx, c); err != nil {
			t.Fatal(err)
		}
		want := *d
		want.Hostname = "lab-07"
		want.OSVersion = "10.0.26100"
		want.Hardware = r.Hardware
		want.ReportHash = c.Hash
		want.LastSeenAt = ts(at)
		want.UpdatedAt = ts(at)
		equal(t, "device after full report", e.findDevice(d.ID), &want)

		p, err := e.s.FindLatestPosture(e.ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "latest posture", p, &inventory.PostureSnapshot{
			ID: p.ID, DeviceID: d.ID, Hash: c.Hash, Posture: r.Posture, ReceivedAt: ts(at),
		})

		// The new hash now works as a heartbeat.
		if err := e.s.RecordCheckIn(e.ctx, inventory.CheckIn{DeviceID: d.ID, Hash: c.Hash, At: at.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("RecordCheckIn/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		r := report("SN1")
		for _, c := range []inventory.CheckIn{
			{DeviceID: uuid.New(), Hash: hashOf(r), At: t0},
			{DeviceID: uuid.New(), Hash: hashOf(r), Report: &r, At: t0},
		} {
			wantCode(t, e.s.RecordCheckIn(e.ctx, c), inventory.ENOTFOUND)
		}
	})

	t.Run("RecordCheckIn/ErrSerialTaken", func(t *testing.T) {
		e := su.fresh(t)
		tok := e.token(e.school("a").ID, 2)
		a, _ := e.enroll(tok, "SN1")
		b, _ := e.enroll(tok, "SN2")
		r := report("SN1") // b now claims a's serial
		err := e.s.RecordCheckIn(e.ctx, inventory.CheckIn{DeviceID: b.ID, Hash: hashOf(r), Report: &r, At: t0.Add(time.Hour)})
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "SN1")
		equal(t, "device a", e.findDevice(a.ID), a)
		equal(t, "device b", e.findDevice(b.ID), b)
	})

	t.Run("FindLatestPosture/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		_, err := e.s.FindLatestPosture(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("FindDevices/Pagination", func(t *testing.T) {
		e := su.fresh(t)
		tok := e.token(e.school("a").ID, 10)
		var want []uuid.UUID
		for _, serial := range []string{"A", "B", "C", "D", "E", "F", "G"} {
			d, _ := e.enroll(tok, serial)
			want = append(want, d.ID)
		}
		slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })

		var (
			got   []uuid.UUID
			sizes []int
			after uuid.UUID
		)
		for range 10 {
			page, err := e.s.FindDevices(e.ctx, inventory.DeviceFilter{After: after, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(page))
			if len(page) == 0 {
				break
			}
			for _, d := range page {
				got = append(got, d.ID)
			}
			after = page[len(page)-1].ID
		}
		equal(t, "page sizes", sizes, []int{3, 3, 1, 0})
		equal(t, "device IDs", got, want)
	})

	t.Run("FindDevices/SchoolFilter", func(t *testing.T) {
		e := su.fresh(t)
		a, b, c := e.school("a"), e.school("b"), e.school("c")
		ids := map[uuid.UUID][]uuid.UUID{}
		for _, sc := range []*inventory.School{a, b, c} {
			tok := e.token(sc.ID, 2)
			for _, serial := range []string{"1", "2"} {
				d, _ := e.enroll(tok, serial)
				ids[sc.ID] = append(ids[sc.ID], d.ID)
			}
		}
		for _, tc := range []struct {
			name    string
			schools []uuid.UUID
			want    int
		}{
			{"All", nil, 6},
			{"None", []uuid.UUID{}, 0},
			{"One", []uuid.UUID{b.ID}, 2},
			{"Two", []uuid.UUID{a.ID, c.ID}, 4},
			{"Unknown", []uuid.UUID{uuid.New()}, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.s.FindDevices(e.ctx, inventory.DeviceFilter{SchoolIDs: tc.schools})
				if err != nil {
					t.Fatal(err)
				}
				if got == nil {
					t.Error("FindDevices returned a nil slice, want an empty one")
				}
				if len(got) != tc.want {
					t.Fatalf("got %d devices, want %d", len(got), tc.want)
				}
				for _, d := range got {
					if tc.schools != nil && !slices.Contains(tc.schools, d.SchoolID) {
						t.Errorf("device %s of school %s is outside the filter", d.ID, d.SchoolID)
					}
					if !slices.Contains(ids[d.SchoolID], d.ID) {
						t.Errorf("device %s is not one of school %s's", d.ID, d.SchoolID)
					}
				}
			})
		}
	})
}
