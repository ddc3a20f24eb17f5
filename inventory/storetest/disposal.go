package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// certificate returns a certificate of destruction whose bytes hold
// every byte a store might mangle, with its SHA-256.
func certificate() ([]byte, string) {
	b := []byte("%PDF-1.7\n")
	for i := range 256 {
		b = append(b, byte(i))
	}
	b = append(b, 0, 0, '\r', '\n')
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

// disposal returns a disposal of a to a data destruction service, with a
// certificate, recorded by by at t0.
func disposal(a *inventory.Asset, by uuid.UUID) *inventory.Disposal {
	cert, sum := certificate()
	return &inventory.Disposal{AssetID: a.ID, Method: inventory.DisposalDestruction, Date: date(2025, 8, 29),
		Recipient: "Shred-It Ltd — Zoë’s team", Notes: "Collected with 3 others\nDrive serials on the certificate",
		Certificate: cert, CertificateName: "certificate 0042.pdf", CertificateType: "application/pdf", CertificateSHA: sum,
		RecordedBy: by, RecordedAt: t0}
}

func (e *env) findDisposal(assetID uuid.UUID) *inventory.Disposal {
	e.t.Helper()
	d, err := e.s.FindDisposal(e.ctx, assetID)
	if err != nil {
		e.t.Fatalf("FindDisposal: %v", err)
	}
	return d
}

func (e *env) pinRecords(assetID uuid.UUID) []*inventory.PINRecord {
	e.t.Helper()
	all, err := e.s.FindPINRecords(e.ctx, assetID)
	if err != nil {
		e.t.Fatalf("FindPINRecords: %v", err)
	}
	return all
}

func (su suite) testDisposalStore(t *testing.T) {
	t.Run("DisposeAsset", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "T-1")
		other := e.asset(st.school.ID, "SN2", "T-2")
		// Two records, one of them changed once, and a record of other
		// kit that stays.
		passcode := e.pinSet(a, inventory.PINDevicePasscode, "sealed-1", st.tech.ID, t0.Add(-3*time.Hour))
		e.pinSet(a, inventory.PINDevicePasscode, "sealed-2", st.tech.ID, t0.Add(-2*time.Hour))
		e.pinSet(a, inventory.PINFirmwarePassword, "sealed-3", st.tech.ID, t0.Add(-time.Hour))
		kept := e.pinSet(other, inventory.PINDevicePasscode, "sealed-4", st.tech.ID, t0.Add(-time.Hour))
		logBefore := e.pinLog(inventory.PINLogFilter{AssetID: a.ID})
		equal(t, "log before", len(logBefore), 3)

		d := disposal(a, st.tech.ID)
		d.Date = time.Date(2025, 8, 29, 15, 4, 5, 6, time.UTC) // a time of the day
		before := time.Now().Add(-time.Second)
		do(t, e.s.DisposeAsset(e.ctx, d))
		want := disposal(a, st.tech.ID)
		want.SchoolID, want.RecordedAt = st.school.ID, ts(t0)
		equal(t, "filled disposal", d, want)
		got := e.findDisposal(a.ID)
		equal(t, "stored disposal", got, want)
		cert, _ := certificate()
		if string(got.Certificate) != string(cert) {
			t.Errorf("certificate: %d bytes read back, not the %d stored exactly", len(got.Certificate), len(cert))
		}

		// The kit is disposed, its entry otherwise as it was.
		wantAsset := *a
		wantAsset.Status = inventory.AssetDisposed
		gotAsset := e.findAsset(a.ID)
		if gotAsset.UpdatedAt.Before(ts(before)) {
			t.Errorf("UpdatedAt %v: want the store's time of the disposal", gotAsset.UpdatedAt)
		}
		wantAsset.UpdatedAt = gotAsset.UpdatedAt
		equal(t, "disposed kit", gotAsset, &wantAsset)
		equal(t, "other kit", e.findAsset(other.ID).Status, inventory.AssetInStock)

		// Its PINs are gone, and the log says so once, by the recorder;
		// the log keeps its lines.
		equal(t, "PIN records", e.pinRecords(a.ID), []*inventory.PINRecord{})
		equal(t, "PIN history", e.pinHistory(passcode.ID), []*inventory.PINHistory{})
		equal(t, "other kit's PIN records", e.pinRecords(other.ID), []*inventory.PINRecord{kept})
		log := e.pinLog(inventory.PINLogFilter{AssetID: a.ID})
		equal(t, "log entries", len(log), 4)
		equal(t, "old log entries", log[1:], logBefore)
		purge := log[0]
		wantV7(t, "purge entry ID", purge.ID)
		equal(t, "purge entry", purge, &inventory.PINLogEntry{ID: purge.ID, SchoolID: st.school.ID, AssetID: a.ID,
			Action: inventory.PINActionPurge, ActorID: st.tech.ID, At: ts(t0),
			Reason: "2 PIN records and 1 old value deleted: the kit was disposed"})
		equal(t, "other kit's log", len(e.pinLog(inventory.PINLogFilter{AssetID: other.ID})), 1)

		// Disposed twice is refused, and nothing changes.
		again := disposal(a, st.head.ID)
		again.Method, again.Recipient = inventory.DisposalResale, "A. Buyer"
		err := e.s.DisposeAsset(e.ctx, again)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "SN1", "disposed already", "2025-08-29")
		equal(t, "disposal after a second", e.findDisposal(a.ID), want)
		equal(t, "log after a second disposal", len(e.pinLog(inventory.PINLogFilter{AssetID: a.ID})), 4)

		// Its entry is read-only, and it takes no PIN.
		edit := e.findAsset(a.ID)
		edit.Notes = "Sold on"
		err = e.s.UpdateAsset(e.ctx, edit)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "SN1", "is disposed", "read-only")
		edit.Notes, edit.Status = a.Notes, inventory.AssetInStock
		wantCode(t, e.s.UpdateAsset(e.ctx, edit), inventory.ECONFLICT)
		equal(t, "entry after edits", e.findAsset(a.ID), gotAsset)
		err = e.s.SetPIN(e.ctx, &inventory.PINRecord{AssetID: a.ID, Kind: inventory.PINDevicePasscode,
			Sealed: []byte("sealed-5"), SetBy: st.tech.ID, SetAt: t0.Add(time.Hour)}, nil)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "SN1", "disposed")
		equal(t, "PIN records after SetPIN", e.pinRecords(a.ID), []*inventory.PINRecord{})

		_, err = e.s.FindDisposal(e.ctx, other.ID)
		wantCode(t, err, inventory.ENOTFOUND)
		_, err = e.s.FindDisposal(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("DisposeAsset/NoCertificate", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "", func(a *inventory.Asset) { a.Status = inventory.AssetRetired })

		before := time.Now().Add(-time.Second)
		d := &inventory.Disposal{AssetID: a.ID, SchoolID: st.school.ID, Method: inventory.DisposalWEEE,
			Date: date(2025, 8, 1), Recipient: "Borough WEEE Recycling", Certificate: []byte{}, RecordedBy: st.tech.ID}
		do(t, e.s.DisposeAsset(e.ctx, d))
		if d.RecordedAt.Before(before) || d.RecordedAt != ts(d.RecordedAt) {
			t.Errorf("RecordedAt %v: want the store's time, as stored", d.RecordedAt)
		}
		want := &inventory.Disposal{AssetID: a.ID, SchoolID: st.school.ID, Method: inventory.DisposalWEEE,
			Date: date(2025, 8, 1), Recipient: "Borough WEEE Recycling", RecordedBy: st.tech.ID, RecordedAt: d.RecordedAt}
		equal(t, "filled disposal", d, want)
		got := e.findDisposal(a.ID)
		equal(t, "stored disposal", got, want)
		if got.Certificate != nil {
			t.Errorf("certificate %q, want none", got.Certificate)
		}
		equal(t, "status", e.findAsset(a.ID).Status, inventory.AssetDisposed)
		// No PIN records, no purge.
		equal(t, "log", e.pinLog(inventory.PINLogFilter{}), []*inventory.PINLogEntry{})

		// Each method is stored as given.
		for i, m := range inventory.DisposalMethods {
			b := e.asset(st.school.ID, "M"+string(rune('A'+i)), "")
			d := &inventory.Disposal{AssetID: b.ID, Method: m, Date: date(2025, 8, 1), Recipient: "Someone", RecordedBy: st.tech.ID}
			if m == inventory.DisposalDestruction {
				d.Certificate, d.CertificateSHA = certificate()
			}
			do(t, e.s.DisposeAsset(e.ctx, d))
			equal(t, "method", e.findDisposal(b.ID).Method, m)
		}
	})

	t.Run("DisposeAsset/Refused", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		other := e.staff("b", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "T-1")
		r := e.pinSet(a, inventory.PINDevicePasscode, "sealed", st.tech.ID, t0)
		imported := e.asset(st.school.ID, "GONE", "", func(a *inventory.Asset) { a.Status = inventory.AssetDisposed })
		requested := e.asset(st.school.ID, "REQ", "")
		e.newLoan(st, requested)
		signed := e.asset(st.school.ID, "SIGNED", "")
		e.ready(st, signed)
		onLoan := e.asset(st.school.ID, "LENT", "")
		e.lend(st, onLoan, t0)
		returned := e.asset(st.school.ID, "BACK", "")
		l := e.lend(st, returned, t0)
		do(t, l.Return(st.tech.ID, "good", "", t0.Add(time.Hour)))
		e.mustSave(l, "returned", st.tech.ID, t0.Add(time.Hour), nil)
		ipad := e.asset(st.school.ID, "IPAD1", "", shared)
		do(t, e.s.CreateSignOut(e.ctx, &inventory.SignOut{AssetID: ipad.ID, UserID: st.borrower.ID, OutBy: st.tech.ID, OutAt: t0}))
		ipadBack := e.asset(st.school.ID, "IPAD2", "", shared)
		s := &inventory.SignOut{AssetID: ipadBack.ID, UserID: st.borrower.ID, OutBy: st.tech.ID, OutAt: t0}
		do(t, e.s.CreateSignOut(e.ctx, s))
		do(t, e.s.ReturnSignOut(e.ctx, s.ID, st.tech.ID, t0.Add(time.Hour)))
		_, upperSHA := certificate()
		upperSHA = strings.ToUpper(upperSHA)
		tomorrow := time.Now().UTC().Add(36 * time.Hour)

		for _, tc := range []struct {
			name   string
			change func(d *inventory.Disposal)
			code   string
			parts  []string
		}{
			{"BadMethod", func(d *inventory.Disposal) { d.Method = "skip" }, inventory.EINVALID, []string{"skip"}},
			{"NoMethod", func(d *inventory.Disposal) { d.Method = "" }, inventory.EINVALID, []string{"method"}},
			{"NoDate", func(d *inventory.Disposal) { d.Date = time.Time{} }, inventory.EINVALID, []string{"date"}},
			{"FutureDate", func(d *inventory.Disposal) { d.Date = tomorrow }, inventory.EINVALID, []string{"future"}},
			{"NoRecipient", func(d *inventory.Disposal) { d.Recipient = " \t" }, inventory.EINVALID, []string{"recipient"}},
			{"LongRecipient", func(d *inventory.Disposal) { d.Recipient = strings.Repeat("x", 201) }, inventory.EINVALID, []string{"recipient"}},
			{"DestructionWithoutCertificate", func(d *inventory.Disposal) {
				d.Certificate, d.CertificateName, d.CertificateType, d.CertificateSHA = nil, "", "", ""
			}, inventory.EINVALID, []string{"certificate"}},
			{"NoSHA", func(d *inventory.Disposal) { d.CertificateSHA = "" }, inventory.EINVALID, []string{"SHA-256"}},
			{"WrongSHA", func(d *inventory.Disposal) {
				sum := sha256.Sum256([]byte("another file"))
				d.CertificateSHA = hex.EncodeToString(sum[:])
			}, inventory.EINVALID, []string{"SHA-256"}},
			{"UpperCaseSHA", func(d *inventory.Disposal) { d.CertificateSHA = upperSHA }, inventory.EINVALID, []string{"lower-case"}},
			{"SHAWithoutCertificate", func(d *inventory.Disposal) {
				d.Method, d.Certificate, d.CertificateName, d.CertificateType = inventory.DisposalWEEE, nil, "", ""
			}, inventory.EINVALID, []string{"SHA-256", "without a certificate"}},
			{"NameWithoutCertificate", func(d *inventory.Disposal) {
				d.Method, d.Certificate, d.CertificateSHA = inventory.DisposalWEEE, nil, ""
			}, inventory.EINVALID, []string{"without a certificate"}},
			{"OtherSchool", func(d *inventory.Disposal) { d.SchoolID = other.school.ID }, inventory.EINVALID, []string{"SN1", "another school"}},
			{"NoRecorder", func(d *inventory.Disposal) { d.RecordedBy = uuid.Nil }, inventory.EINVALID, nil},
			{"UnknownRecorder", func(d *inventory.Disposal) { d.RecordedBy = uuid.New() }, inventory.ENOTFOUND, nil},
			{"UnknownKit", func(d *inventory.Disposal) { d.AssetID = uuid.New() }, inventory.ENOTFOUND, nil},
			{"DisposedAlready", func(d *inventory.Disposal) { d.AssetID = imported.ID }, inventory.ECONFLICT, []string{"GONE", "disposed already"}},
			{"RequestedLoan", func(d *inventory.Disposal) { d.AssetID = requested.ID }, inventory.ECONFLICT, []string{"REQ", "open loan", "requested"}},
			{"SignedLoan", func(d *inventory.Disposal) { d.AssetID = signed.ID }, inventory.ECONFLICT, []string{"SIGNED", "open loan", "signed"}},
			{"OnLoan", func(d *inventory.Disposal) { d.AssetID = onLoan.ID }, inventory.ECONFLICT, []string{"LENT", "loan", "return"}},
			{"SignedOut", func(d *inventory.Disposal) { d.AssetID = ipad.ID }, inventory.ECONFLICT, []string{"IPAD1", "signed out"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				d := disposal(a, st.tech.ID)
				tc.change(d)
				kit := d.AssetID
				var status inventory.AssetStatus
				if kit != uuid.Nil && kit != a.ID && tc.code != inventory.ENOTFOUND {
					status = e.findAsset(kit).Status
				}
				err := e.s.DisposeAsset(e.ctx, d)
				wantCode(t, err, tc.code)
				wantMessage(t, err, tc.parts...)
				if status != "" {
					equal(t, "status after a refusal", e.findAsset(kit).Status, status)
				}
			})
		}
		// Nothing changed.
		equal(t, "status after refusals", e.findAsset(a.ID).Status, inventory.AssetInStock)
		equal(t, "PIN records after refusals", e.pinRecords(a.ID), []*inventory.PINRecord{r})
		equal(t, "log after refusals", len(e.pinLog(inventory.PINLogFilter{})), 1)
		for _, id := range []uuid.UUID{a.ID, imported.ID, requested.ID, onLoan.ID, ipad.ID} {
			_, err := e.s.FindDisposal(e.ctx, id)
			wantCode(t, err, inventory.ENOTFOUND)
		}

		// Kit whose loan is over and kit signed back in may go.
		for _, kit := range []*inventory.Asset{returned, ipadBack} {
			d := disposal(kit, st.tech.ID)
			do(t, e.s.DisposeAsset(e.ctx, d))
			equal(t, "status", e.findAsset(kit.ID).Status, inventory.AssetDisposed)
		}
		// Today is not in the future, whatever its time: the store takes
		// the day.
		today := e.asset(st.school.ID, "TODAY", "")
		d := disposal(today, st.tech.ID)
		y, m, day := time.Now().UTC().Date()
		d.Date = time.Date(y, m, day, 23, 59, 59, 0, time.UTC)
		do(t, e.s.DisposeAsset(e.ctx, d))
		equal(t, "today's date", e.findDisposal(today.ID).Date, date(y, m, day))
	})

	t.Run("UpdateAsset", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "")
		e.pinSet(a, inventory.PINDevicePasscode, "sealed", st.tech.ID, t0)

		// Only a disposal disposes of kit.
		edit := e.findAsset(a.ID)
		edit.Status = inventory.AssetDisposed
		err := e.s.UpdateAsset(e.ctx, edit)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "SN1", "record a disposal instead", "certificate", "PINs")
		equal(t, "entry after a refusal", e.findAsset(a.ID), a)
		equal(t, "PIN records after a refusal", len(e.pinRecords(a.ID)), 1)

		// Kit stored disposed (as an import of old records stores it) is
		// read-only too.
		gone := e.asset(st.school.ID, "GONE", "", func(a *inventory.Asset) { a.Status = inventory.AssetDisposed })
		edit = e.findAsset(gone.ID)
		edit.Location = "Skip"
		err = e.s.UpdateAsset(e.ctx, edit)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "GONE", "is disposed", "read-only")
		equal(t, "disposed entry after a refusal", e.findAsset(gone.ID), gone)
		list := []*inventory.Asset{{SchoolID: st.school.ID, Kind: inventory.KindLaptop, Serial: "OLD1", Status: inventory.AssetDisposed}}
		do(t, e.s.ImportAssets(e.ctx, list))
		equal(t, "imported status", e.findAsset(list[0].ID).Status, inventory.AssetDisposed)
	})

	t.Run("Concurrent", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "", shared)
		e.pinSet(a, inventory.PINDevicePasscode, "sealed", st.tech.ID, t0)

		// Two disposals and a sign-out at once: one disposal wins, and
		// either the sign-out came first (and no disposal) or it is
		// refused.
		var (
			wg   sync.WaitGroup
			errs [2]error
			out  error
		)
		for i := range errs {
			wg.Go(func() { errs[i] = e.s.DisposeAsset(e.ctx, disposal(a, st.tech.ID)) })
		}
		wg.Go(func() {
			out = e.s.CreateSignOut(e.ctx, &inventory.SignOut{AssetID: a.ID, UserID: st.borrower.ID, OutBy: st.tech.ID, OutAt: t0})
		})
		wg.Wait()
		codes := map[string]int{}
		for _, err := range errs {
			codes[inventory.ErrorCode(err)]++
			if c := inventory.ErrorCode(err); c != "" && c != inventory.ECONFLICT {
				t.Errorf("DisposeAsset: %v", err)
			}
		}
		if out == nil {
			equal(t, "disposals beside a sign-out", codes, map[string]int{inventory.ECONFLICT: 2})
			equal(t, "status", e.findAsset(a.ID).Status, inventory.AssetInStock)
			return
		}
		wantCode(t, out, inventory.ECONFLICT)
		equal(t, "disposals", codes, map[string]int{"": 1, inventory.ECONFLICT: 1})
		equal(t, "status", e.findAsset(a.ID).Status, inventory.AssetDisposed)
		equal(t, "PIN records", e.pinRecords(a.ID), []*inventory.PINRecord{})
		equal(t, "log", pinActionsOf(e.pinLog(inventory.PINLogFilter{AssetID: a.ID})), []string{"purge", "set device_passcode"})
	})

	t.Run("AppendOnly", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "")
		do(t, e.s.DisposeAsset(e.ctx, disposal(a, st.tech.ID)))
		want := e.findDisposal(a.ID)

		raw, ok := e.s.(RawExecer)
		if !ok {
			t.Fatalf("%T does not implement storetest.RawExecer, so the suite cannot check that the database refuses to change disposals", e.s)
		}
		id := "'" + a.ID.String() + "'"
		do(t, raw.ExecRaw(e.ctx, `UPDATE assets SET notes = notes WHERE id = `+id)) // the hook works
		for _, q := range []string{
			`UPDATE disposals SET recipient = 'Someone Else' WHERE asset_id = ` + id,
			`UPDATE disposals SET certificate = NULL, certificate_name = '', certificate_type = '', certificate_sha256 = ''`,
			`UPDATE disposals SET certificate = certificate WHERE asset_id = ` + id,
			`DELETE FROM disposals WHERE asset_id = ` + id,
			`DELETE FROM disposals`,
		} {
			err := raw.ExecRaw(e.ctx, q)
			if err == nil || !strings.Contains(err.Error(), "disposals never change") {
				t.Errorf("%s: error %v, want the trigger's refusal", q, err)
			}
		}
		equal(t, "disposal after tampering", e.findDisposal(a.ID), want)
	})
}
