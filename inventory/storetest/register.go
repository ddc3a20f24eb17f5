package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// asset stores a laptop in school with serial and asset tag, changed by
// each of opts first.
func (e *env) asset(school uuid.UUID, serial, tag string, opts ...func(a *inventory.Asset)) *inventory.Asset {
	e.t.Helper()
	a := &inventory.Asset{SchoolID: school, Kind: inventory.KindLaptop, Make: "Dell", Model: "Latitude 5440",
		Serial: serial, AssetTag: tag, Status: inventory.AssetInStock}
	for _, o := range opts {
		o(a)
	}
	if err := e.s.CreateAsset(e.ctx, a); err != nil {
		e.t.Fatalf("CreateAsset(%s/%s): %v", serial, tag, err)
	}
	return a
}

func (e *env) findAsset(id uuid.UUID) *inventory.Asset {
	e.t.Helper()
	a, err := e.s.FindAssetByID(e.ctx, id)
	if err != nil {
		e.t.Fatalf("FindAssetByID: %v", err)
	}
	return a
}

// date returns midnight UTC of the day.
func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func (su suite) testRegisterStore(t *testing.T) {
	t.Run("CreateAsset", func(t *testing.T) {
		e := su.fresh(t)
		sc := e.school("a")
		london, err := time.LoadLocation("Europe/London")
		if err != nil {
			london = time.FixedZone("BST", 3600)
		}
		a := &inventory.Asset{
			SchoolID: sc.ID, Kind: inventory.KindTablet, Make: "Apple", Model: "iPad (10th generation)",
			Serial: "DMPXK1ABC123", AssetTag: "ST-0042", Status: inventory.AssetAssigned, Location: "Room 4",
			// Dates keep their day in UTC and lose the time of day.
			PurchaseDate:   time.Date(2024, 9, 3, 15, 4, 5, 6, time.UTC),
			PurchaseCost:   34999,
			Supplier:       "XMA Ltd",
			WarrantyEnd:    time.Date(2027, 9, 3, 12, 0, 0, 0, london),
			Notes:          "Cracked case\nreplaced 2025",
			AssignedTo:     "j.smith@school.example",
			Shared:         true,
			OSEndOfSupport: time.Time{},
		}
		if err := e.s.CreateAsset(e.ctx, a); err != nil {
			t.Fatal(err)
		}
		wantV7(t, "ID", a.ID)
		if a.CreatedAt.IsZero() || !a.UpdatedAt.Equal(a.CreatedAt) {
			t.Errorf("CreatedAt %v, UpdatedAt %v: want both filled, equal", a.CreatedAt, a.UpdatedAt)
		}
		equal(t, "filled PurchaseDate", a.PurchaseDate, date(2024, 9, 3))
		equal(t, "filled WarrantyEnd", a.WarrantyEnd, date(2027, 9, 3))
		equal(t, "filled OSEndOfSupport", a.OSEndOfSupport, time.Time{})
		equal(t, "FindAssetByID", e.findAsset(a.ID), a)
	})

	t.Run("CreateAsset/Refused", func(t *testing.T) {
		e := su.fresh(t)
		sc := e.school("a")
		for _, tc := range []struct {
			name   string
			change func(a *inventory.Asset)
			code   string
		}{
			{"NoSerialOrTag", func(a *inventory.Asset) { a.Serial, a.AssetTag = "", "" }, inventory.EINVALID},
			{"BadKind", func(a *inventory.Asset) { a.Kind = "toaster" }, inventory.EINVALID},
			{"BadStatus", func(a *inventory.Asset) { a.Status = "" }, inventory.EINVALID},
			{"NegativeCost", func(a *inventory.Asset) { a.PurchaseCost = -1 }, inventory.EINVALID},
			{"OnLoan", func(a *inventory.Asset) { a.Status = inventory.AssetOnLoan }, inventory.ECONFLICT},
			{"UnknownSchool", func(a *inventory.Asset) { a.SchoolID = uuid.New() }, inventory.ENOTFOUND},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := &inventory.Asset{SchoolID: sc.ID, Kind: inventory.KindLaptop, Serial: "SN1", Status: inventory.AssetInStock}
				tc.change(a)
				wantCode(t, e.s.CreateAsset(e.ctx, a), tc.code)
			})
		}
		equal(t, "entries stored", e.countAssets(inventory.AssetFilter{}).Total, 0)
	})

	t.Run("CreateAsset/ErrTaken", func(t *testing.T) {
		e := su.fresh(t)
		a, b := e.school("a"), e.school("b")
		e.asset(a.ID, "ABC123", "ST-1")
		e.asset(a.ID, "", "ST-2")
		e.asset(a.ID, "", "ST-3") // entries without a serial never clash
		e.asset(a.ID, "XYZ", "")
		e.asset(a.ID, "XYZ2", "") // nor entries without an asset tag

		err := e.s.CreateAsset(e.ctx, &inventory.Asset{SchoolID: a.ID, Kind: inventory.KindLaptop, Serial: "ABC123",
			AssetTag: "ST-9", Status: inventory.AssetInStock})
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, `serial "ABC123"`, "already in this school's register")
		err = e.s.CreateAsset(e.ctx, &inventory.Asset{SchoolID: a.ID, Kind: inventory.KindLaptop, Serial: "NEW",
			AssetTag: "ST-1", Status: inventory.AssetInStock})
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, `asset tag "ST-1"`, "already in this school's register")

		// Serials and tags are exact, and another school may use them.
		e.asset(a.ID, "abc123", "st-1")
		e.asset(b.ID, "ABC123", "ST-1")
		equal(t, "entries stored", e.countAssets(inventory.AssetFilter{}).Total, 7)
	})

	t.Run("UpdateAsset", func(t *testing.T) {
		e := su.fresh(t)
		sc := e.school("a")
		orig := e.asset(sc.ID, "SN1", "ST-1")
		e.asset(sc.ID, "SN2", "ST-2")

		a := *orig
		a.SchoolID, a.CreatedAt, a.DeviceID = uuid.New(), t0, uuid.New() // ignored
		a.Kind, a.Make, a.Model, a.Serial, a.AssetTag = inventory.KindDesktop, "HP", "EliteDesk", "SN1b", ""
		a.Status, a.Location, a.Notes, a.Shared = inventory.AssetInRepair, "IT office", "fan noise", true
		a.PurchaseDate, a.PurchaseCost, a.OSEndOfSupport = date(2020, 1, 31), 50000, date(2025, 10, 14)
		if err := e.s.UpdateAsset(e.ctx, &a); err != nil {
			t.Fatal(err)
		}
		if a.SchoolID != orig.SchoolID || a.DeviceID != orig.DeviceID || !a.CreatedAt.Equal(orig.CreatedAt) {
			t.Errorf("UpdateAsset changed the school, device link or CreatedAt: %s %s %v", a.SchoolID, a.DeviceID, a.CreatedAt)
		}
		if a.UpdatedAt.Before(orig.UpdatedAt) {
			t.Errorf("UpdatedAt %v is before %v", a.UpdatedAt, orig.UpdatedAt)
		}
		equal(t, "stored entry", e.findAsset(a.ID), &a)

		clash := a
		clash.Serial = "SN2"
		err := e.s.UpdateAsset(e.ctx, &clash)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, `serial "SN2"`)
		clash = a
		clash.AssetTag = "ST-2"
		wantCode(t, e.s.UpdateAsset(e.ctx, &clash), inventory.ECONFLICT)
		clash = a
		clash.Status = inventory.AssetOnLoan
		wantCode(t, e.s.UpdateAsset(e.ctx, &clash), inventory.ECONFLICT)
		clash = a
		clash.Make = " HP"
		wantCode(t, e.s.UpdateAsset(e.ctx, &clash), inventory.EINVALID)
		equal(t, "entry after refused changes", e.findAsset(a.ID), &a)

		missing := a
		missing.ID = uuid.New()
		wantCode(t, e.s.UpdateAsset(e.ctx, &missing), inventory.ENOTFOUND)
	})

	t.Run("FindAssetByID/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		_, err := e.s.FindAssetByID(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)
		_, err = e.s.FindAssetByDevice(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("FindAssets", su.testFindAssets)

	t.Run("ImportAssets", func(t *testing.T) {
		e := su.fresh(t)
		sc := e.school("a")
		list := []*inventory.Asset{
			{SchoolID: sc.ID, Kind: inventory.KindLaptop, Serial: "SN1", Status: inventory.AssetInStock},
			{SchoolID: sc.ID, Kind: inventory.KindTablet, AssetTag: "ST-2", Status: inventory.AssetAssigned, AssignedTo: "a@b.example"},
			{SchoolID: sc.ID, Kind: inventory.KindCamera, Serial: "SN3", AssetTag: "ST-3", Status: inventory.AssetInStock,
				PurchaseDate: time.Date(2023, 4, 5, 6, 7, 8, 0, time.UTC)},
		}
		if err := e.s.ImportAssets(e.ctx, list); err != nil {
			t.Fatal(err)
		}
		for i, a := range list {
			wantV7(t, fmt.Sprintf("entry %d ID", i+1), a.ID)
			equal(t, fmt.Sprintf("entry %d", i+1), e.findAsset(a.ID), a)
		}
		equal(t, "PurchaseDate", list[2].PurchaseDate, date(2023, 4, 5))
	})

	t.Run("ImportAssets/AllOrNothing", func(t *testing.T) {
		e := su.fresh(t)
		a, b := e.school("a"), e.school("b")
		e.asset(a.ID, "STORED", "ST-STORED")
		entry := func(school uuid.UUID, serial, tag string) *inventory.Asset {
			return &inventory.Asset{SchoolID: school, Kind: inventory.KindLaptop, Serial: serial, AssetTag: tag, Status: inventory.AssetInStock}
		}
		for _, tc := range []struct {
			name  string
			list  []*inventory.Asset
			code  string
			parts []string
		}{
			{"SerialTwiceInList", []*inventory.Asset{entry(a.ID, "X1", ""), entry(a.ID, "X2", ""), entry(a.ID, "X1", "")},
				inventory.ECONFLICT, []string{"entry 3", `serial "X1"`}},
			{"TagTwiceInList", []*inventory.Asset{entry(a.ID, "", "T1"), entry(a.ID, "", "T1")},
				inventory.ECONFLICT, []string{"entry 2", `asset tag "T1"`}},
			{"SerialStored", []*inventory.Asset{entry(a.ID, "X1", ""), entry(a.ID, "STORED", ""), entry(a.ID, "X3", "")},
				inventory.ECONFLICT, []string{"entry 2", `serial "STORED"`, "already in this school's register"}},
			{"TagStored", []*inventory.Asset{entry(a.ID, "X1", ""), entry(a.ID, "X2", ""), entry(a.ID, "", "ST-STORED")},
				inventory.ECONFLICT, []string{"entry 3", `asset tag "ST-STORED"`}},
			{"Invalid", []*inventory.Asset{entry(a.ID, "X1", ""), entry(a.ID, "", "")},
				inventory.EINVALID, []string{"entry 2"}},
			{"OnLoan", []*inventory.Asset{entry(a.ID, "X1", ""), {SchoolID: a.ID, Kind: inventory.KindLaptop, Serial: "X2", Status: inventory.AssetOnLoan}},
				inventory.ECONFLICT, []string{"entry 2"}},
			{"UnknownSchool", []*inventory.Asset{entry(a.ID, "X1", ""), entry(uuid.New(), "X2", "")},
				inventory.ENOTFOUND, []string{"entry 2"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := e.s.ImportAssets(e.ctx, tc.list)
				wantCode(t, err, tc.code)
				wantMessage(t, err, tc.parts...)
				for i, a := range tc.list {
					if a.ID != uuid.Nil {
						t.Errorf("entry %d was given ID %s by a failed import", i+1, a.ID)
					}
				}
				equal(t, "entries stored", e.countAssets(inventory.AssetFilter{}).Total, 1)
			})
		}
		// The same serial in two schools in one list is no clash.
		if err := e.s.ImportAssets(e.ctx, []*inventory.Asset{entry(a.ID, "X1", ""), entry(b.ID, "X1", ""), entry(b.ID, "STORED", "")}); err != nil {
			t.Fatal(err)
		}
		equal(t, "entries stored", e.countAssets(inventory.AssetFilter{}).Total, 4)
	})

	t.Run("ImportAssets/Large", func(t *testing.T) {
		e := su.fresh(t)
		sc := e.school("a")
		list := make([]*inventory.Asset, 500)
		for i := range list {
			list[i] = &inventory.Asset{SchoolID: sc.ID, Kind: inventory.AssetKinds[i%len(inventory.AssetKinds)],
				Serial: fmt.Sprintf("SN%04d", i), AssetTag: fmt.Sprintf("ST-%04d", i), Status: inventory.AssetInStock}
		}
		if err := e.s.ImportAssets(e.ctx, list); err != nil {
			t.Fatal(err)
		}
		c := e.countAssets(inventory.AssetFilter{SchoolIDs: []uuid.UUID{sc.ID}})
		equal(t, "entries stored", c.Total, 500)
		equal(t, "laptops", c.ByKind[inventory.KindLaptop], 72)
		equal(t, "in stock", c.ByStatus[inventory.AssetInStock], 500)
	})

	t.Run("EnrollDevice/LinksRegister", func(t *testing.T) {
		e := su.fresh(t)
		a, b := e.school("a"), e.school("b")
		tok := e.token(a.ID, 10)
		// An entry with the device's serial is linked, and its empty make
		// and model are filled from the report; its other fields kept.
		known := e.asset(a.ID, "SN1", "ST-1", func(x *inventory.Asset) {
			x.Make, x.Model, x.Location, x.Status = "", "", "Library", inventory.AssetAssigned
		})
		other := e.asset(b.ID, "SN2", "") // another school's serial is not this school's kit
		d1, _ := e.enroll(tok, "SN1")
		got, err := e.s.FindAssetByDevice(e.ctx, d1.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := *known
		want.DeviceID, want.Make, want.Model, want.UpdatedAt = d1.ID, "Dell Inc.", "Latitude 3440", ts(t0)
		equal(t, "linked entry", got, &want)

		// Without an entry, one is added.
		d2, _ := e.enroll(tok, "SN2")
		added, err := e.s.FindAssetByDevice(e.ctx, d2.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantV7(t, "added entry's ID", added.ID)
		equal(t, "added entry", added, &inventory.Asset{
			ID: added.ID, SchoolID: a.ID, Kind: inventory.KindLaptop, Make: "Dell Inc.", Model: "Latitude 3440",
			Serial: "SN2", Status: inventory.AssetInStock, Notes: "Added to the register when its agent enrolled.",
			DeviceID: d2.ID, CreatedAt: ts(t0), UpdatedAt: ts(t0),
		})
		equal(t, "other school's entry", e.findAsset(other.ID), other)

		// Enrolling again links nothing new and adds no entry.
		r := enrollRequest(tok, "SN2")
		r.At = t0.Add(time.Hour)
		if d, err := e.s.EnrollDevice(e.ctx, r); err != nil {
			t.Fatal(err)
		} else if d.ID != d2.ID {
			t.Fatalf("re-enrolment made device %s, want %s", d.ID, d2.ID)
		}
		e.enroll(tok, "SN1")
		equal(t, "entry after re-enrolment", e.findAsset(added.ID), added)
		equal(t, "entries of school a", e.countAssets(inventory.AssetFilter{SchoolIDs: []uuid.UUID{a.ID}}).Total, 2)

		// A desktop is added as one; a device without a serial is not
		// added, as the register could not tell it from the next.
		rd := enrollRequest(tok, "SN3")
		rd.Report.Hardware.ChassisType = "Desktop"
		d3, err := e.s.EnrollDevice(e.ctx, rd)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.s.FindAssetByDevice(e.ctx, d3.ID); err != nil || got.Kind != inventory.KindDesktop {
			t.Errorf("desktop's entry: %+v, %v; want kind desktop", got, err)
		}
		d4, _ := e.enroll(tok, "")
		_, err = e.s.FindAssetByDevice(e.ctx, d4.ID)
		wantCode(t, err, inventory.ENOTFOUND)
		equal(t, "entries of school a", e.countAssets(inventory.AssetFilter{SchoolIDs: []uuid.UUID{a.ID}}).Total, 3)
	})

	t.Run("EnrollDevice/RegisterEntryOfAnotherDevice", func(t *testing.T) {
		// An entry linked to a device keeps its link when another device
		// reports its serial, and no duplicate is added.
		e := su.fresh(t)
		sc := e.school("a")
		tok := e.token(sc.ID, 10)
		d1, _ := e.enroll(tok, "SN1")
		entry, err := e.s.FindAssetByDevice(e.ctx, d1.ID)
		if err != nil {
			t.Fatal(err)
		}
		rep := report("SN9")
		if err := e.s.RecordCheckIn(e.ctx, inventory.CheckIn{DeviceID: d1.ID, Hash: hashOf(rep), Report: &rep, At: t0}); err != nil {
			t.Fatal(err)
		}
		d2, _ := e.enroll(tok, "SN1") // a new device with the old serial
		if d2.ID == d1.ID {
			t.Fatal("enrolment reused the device whose serial changed")
		}
		equal(t, "entry", e.findAsset(entry.ID), entry)
		_, err = e.s.FindAssetByDevice(e.ctx, d2.ID)
		wantCode(t, err, inventory.ENOTFOUND)
		equal(t, "entries", e.countAssets(inventory.AssetFilter{}).Total, 1)
	})
}

func (e *env) countAssets(f inventory.AssetFilter) inventory.AssetCounts {
	e.t.Helper()
	c, err := e.s.CountAssets(e.ctx, f)
	if err != nil {
		e.t.Fatalf("CountAssets: %v", err)
	}
	return c
}

// walkAssets reads every page of f, limit entries at a time, as a client
// would, and returns them all.
func (e *env) walkAssets(f inventory.AssetFilter, limit int) []*inventory.Asset {
	e.t.Helper()
	f.Limit = limit
	var all []*inventory.Asset
	for range 1000 {
		page, err := e.s.FindAssets(e.ctx, f)
		if err != nil {
			e.t.Fatalf("FindAssets(%+v): %v", f, err)
		}
		if len(page) > limit {
			e.t.Fatalf("FindAssets returned %d entries, limit %d", len(page), limit)
		}
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
		last := page[len(page)-1]
		f.After, f.AfterKey = last.ID, last.SortKey(f.Sort)
	}
	e.t.Fatal("FindAssets never ended")
	return nil
}

func (su suite) testFindAssets(t *testing.T) {
	e := su.fresh(t)
	a, b := e.school("a"), e.school("b")
	type spec struct {
		school                                   uuid.UUID
		kind                                     inventory.AssetKind
		make, model, serial, tag, location, note string
		status                                   inventory.AssetStatus
		shared                                   bool
	}
	specs := []spec{
		{a.ID, inventory.KindLaptop, "Dell", "Latitude", "SN-B", "ST-2", "Room 1", "", inventory.AssetInStock, false},
		{a.ID, inventory.KindLaptop, "dell", "latitude", "sn-a", "", "room 1", "50% battery", inventory.AssetAssigned, false},
		{a.ID, inventory.KindTablet, "Apple", "iPad", "", "ST-1", "Trolley", "", inventory.AssetInStock, true},
		{a.ID, inventory.KindTablet, "Apple", "iPad", "SN-C", "st-1b", "Trolley", "", inventory.AssetInStock, true},
		{a.ID, inventory.KindCamera, "", "", "CAM1", "", "", "Ärger", inventory.AssetLost, false},
		{a.ID, inventory.KindProjector, "Épson", "EB", "", "ST-3", "Hall", "", inventory.AssetInRepair, false},
		{a.ID, inventory.KindDesktop, "HP", "Elite", "SN-A", "ST-0", "", "", inventory.AssetRetired, false},
		{b.ID, inventory.KindLaptop, "Dell", "Latitude", "SN-B", "ST-2", "Room 1", "", inventory.AssetInStock, false},
		{b.ID, inventory.KindOther, "", "", "X_1", "", "", "", inventory.AssetDisposed, true},
	}
	var all []*inventory.Asset
	for _, sp := range specs {
		all = append(all, e.asset(sp.school, sp.serial, sp.tag, func(x *inventory.Asset) {
			x.Kind, x.Make, x.Model, x.Location, x.Notes, x.Status, x.Shared = sp.kind, sp.make, sp.model, sp.location, sp.note, sp.status, sp.shared
		}))
	}
	yes, no := true, false
	type match func(x *inventory.Asset) bool
	contains := func(s string) match {
		return func(x *inventory.Asset) bool {
			return strings.Contains(strings.ToLower(strings.Join([]string{x.Make, x.Model, x.Serial, x.AssetTag, x.Location, x.AssignedTo, x.Notes}, "|")), strings.ToLower(s))
		}
	}
	cases := []struct {
		name string
		f    inventory.AssetFilter
		keep match
	}{
		{"All", inventory.AssetFilter{}, func(*inventory.Asset) bool { return true }},
		{"School", inventory.AssetFilter{SchoolIDs: []uuid.UUID{a.ID}}, func(x *inventory.Asset) bool { return x.SchoolID == a.ID }},
		{"NoSchool", inventory.AssetFilter{SchoolIDs: []uuid.UUID{}}, func(*inventory.Asset) bool { return false }},
		{"Kind", inventory.AssetFilter{Kind: inventory.KindTablet}, func(x *inventory.Asset) bool { return x.Kind == inventory.KindTablet }},
		{"Status", inventory.AssetFilter{Status: inventory.AssetInStock}, func(x *inventory.Asset) bool { return x.Status == inventory.AssetInStock }},
		{"Location", inventory.AssetFilter{Location: "ROOM 1"}, func(x *inventory.Asset) bool { return strings.EqualFold(x.Location, "room 1") }},
		{"Shared", inventory.AssetFilter{Shared: &yes}, func(x *inventory.Asset) bool { return x.Shared }},
		{"NotShared", inventory.AssetFilter{Shared: &no}, func(x *inventory.Asset) bool { return !x.Shared }},
		{"SearchModel", inventory.AssetFilter{Search: "LATI"}, contains("lati")},
		{"SearchNonASCII", inventory.AssetFilter{Search: "ärg"}, contains("ärg")},
		{"SearchAccent", inventory.AssetFilter{Search: "ÉPS"}, contains("éps")},
		{"SearchWildcard", inventory.AssetFilter{Search: "%"}, contains("%")},
		{"SearchUnderscore", inventory.AssetFilter{Search: "x_"}, contains("x_")},
		{"Serials", inventory.AssetFilter{Serials: []string{"SN-B", "sn-a"}}, func(x *inventory.Asset) bool { return x.Serial == "SN-B" || x.Serial == "sn-a" }},
		{"SerialsOrTags", inventory.AssetFilter{SchoolIDs: []uuid.UUID{a.ID}, Serials: []string{"CAM1"}, AssetTags: []string{"ST-1", "ST-3"}},
			func(x *inventory.Asset) bool {
				return x.SchoolID == a.ID && (x.Serial == "CAM1" || x.AssetTag == "ST-1" || x.AssetTag == "ST-3")
			}},
		{"Combined", inventory.AssetFilter{SchoolIDs: []uuid.UUID{a.ID, b.ID}, Kind: inventory.KindLaptop, Status: inventory.AssetInStock, Search: "dell"},
			func(x *inventory.Asset) bool {
				return x.Kind == inventory.KindLaptop && x.Status == inventory.AssetInStock
			}},
	}
	for _, tc := range cases {
		for _, sort := range inventory.AssetSorts {
			t.Run(fmt.Sprintf("%s/%s", tc.name, cmp.Or(string(sort), "id")), func(t *testing.T) {
				var want []*inventory.Asset
				for _, x := range all {
					if tc.keep(x) {
						want = append(want, x)
					}
				}
				slices.SortFunc(want, func(x, y *inventory.Asset) int {
					kx, ky := x.SortKey(sort), y.SortKey(sort)
					switch {
					case kx == "" && ky != "":
						return 1
					case kx != "" && ky == "":
						return -1
					}
					return cmp.Or(strings.Compare(kx, ky), strings.Compare(x.ID.String(), y.ID.String()))
				})
				f := tc.f
				f.Sort = sort
				for _, limit := range []int{1, 2, 3, 100} {
					got := e.walkAssets(f, limit)
					equal(t, fmt.Sprintf("entries, %d a page", limit), assetIDs(got), assetIDs(want))
				}
				if len(want) > 0 {
					page, err := e.s.FindAssets(e.ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					equal(t, "first entry", page[0], want[0])
				}
				c := e.countAssets(f)
				equal(t, "count", c.Total, len(want))
				for _, st := range inventory.AssetStatuses {
					n := 0
					for _, x := range want {
						if x.Status == st {
							n++
						}
					}
					equal(t, "count of "+string(st), c.ByStatus[st], n)
				}
				for _, k := range inventory.AssetKinds {
					n := 0
					for _, x := range want {
						if x.Kind == k {
							n++
						}
					}
					equal(t, "count of "+string(k), c.ByKind[k], n)
				}
			})
		}
	}

	t.Run("ErrInvalid", func(t *testing.T) {
		for _, f := range []inventory.AssetFilter{
			{Kind: "toaster"}, {Status: "borrowed"}, {Sort: "colour"}, {AfterKey: "x"},
		} {
			_, err := e.s.FindAssets(e.ctx, f)
			wantCode(t, err, inventory.EINVALID)
		}
		_, err := e.s.CountAssets(e.ctx, inventory.AssetFilter{Kind: "toaster"})
		wantCode(t, err, inventory.EINVALID)
	})
}

// assetIDs returns the IDs of list, for comparing orders.
func assetIDs(list []*inventory.Asset) []uuid.UUID {
	out := []uuid.UUID{}
	for _, x := range list {
		out = append(out, x.ID)
	}
	return out
}
