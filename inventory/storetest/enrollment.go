package storetest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

func (su suite) testEnrollmentStore(t *testing.T) {
	t.Run("CreateEnrollToken", func(t *testing.T) {
		e := su.fresh(t)
		sc := e.school("a")
		tok := &inventory.EnrollToken{SchoolID: sc.ID, SecretHash: secret(), MaxUses: 30, ExpiresAt: t0}
		if err := e.s.CreateEnrollToken(e.ctx, tok); err != nil {
			t.Fatal(err)
		}
		wantV7(t, "ID", tok.ID)
		if tok.CreatedAt.IsZero() {
			t.Error("CreatedAt was not filled")
		}
		want := *tok
		want.ExpiresAt = ts(t0)
		equal(t, "FindEnrollTokenByID", e.findToken(tok.ID), &want)
	})

	t.Run("CreateEnrollToken/ErrSchoolNotFound", func(t *testing.T) {
		e := su.fresh(t)
		err := e.s.CreateEnrollToken(e.ctx, &inventory.EnrollToken{
			SchoolID: uuid.New(), SecretHash: secret(), MaxUses: 1, ExpiresAt: t0,
		})
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("FindEnrollTokenByID/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		_, err := e.s.FindEnrollTokenByID(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("RevokeEnrollToken", func(t *testing.T) {
		e := su.fresh(t)
		tok := e.token(e.school("a").ID, 5)
		if err := e.s.RevokeEnrollToken(e.ctx, tok.ID, t0); err != nil {
			t.Fatal(err)
		}
		equal(t, "RevokedAt", e.findToken(tok.ID).RevokedAt, ts(t0))
		// Revoking again keeps the first time.
		if err := e.s.RevokeEnrollToken(e.ctx, tok.ID, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		equal(t, "RevokedAt after second revoke", e.findToken(tok.ID).RevokedAt, ts(t0))
	})

	t.Run("RevokeEnrollToken/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		wantCode(t, e.s.RevokeEnrollToken(e.ctx, uuid.New(), t0), inventory.ENOTFOUND)
	})

	t.Run("EnrollDevice", func(t *testing.T) {
		e := su.fresh(t)
		sc := e.school("a")
		tok := e.token(sc.ID, 2)
		r := enrollRequest(tok, "SN1")
		given := r.Enrollment
		d, err := e.s.EnrollDevice(e.ctx, r)
		if err != nil {
			t.Fatal(err)
		}

		wantV7(t, "device ID", d.ID)
		want := &inventory.Device{
			ID:         d.ID,
			SchoolID:   sc.ID,
			Hostname:   "lab-sn1",
			Make:       "Dell Inc.",
			Model:      "Latitude 3440",
			Serial:     "SN1",
			OSName:     "Windows 11 Pro",
			OSVersion:  "10.0.22631",
			Hardware:   r.Report.Hardware,
			ReportHash: r.ReportHash,
			LastSeenAt: ts(t0),
			CreatedAt:  ts(t0),
			UpdatedAt:  ts(t0),
		}
		equal(t, "returned device", d, want)
		equal(t, "stored device", e.findDevice(d.ID), want)

		wantEnr := &inventory.Enrollment{
			ID:           given.ID,
			DeviceID:     d.ID,
			SchoolID:     sc.ID,
			TokenID:      tok.ID,
			CertSerial:   given.CertSerial,
			CertNotAfter: ts(given.CertNotAfter),
			CreatedAt:    ts(t0),
		}
		equal(t, "filled enrolment", &r.Enrollment, wantEnr)
		enr, err := e.s.FindEnrollmentByID(e.ctx, given.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "stored enrolment", enr, wantEnr)

		p, err := e.s.FindLatestPosture(e.ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantV7(t, "posture snapshot ID", p.ID)
		equal(t, "posture snapshot", p, &inventory.PostureSnapshot{
			ID:         p.ID,
			DeviceID:   d.ID,
			Hash:       r.ReportHash,
			Posture:    r.Report.Posture,
			ReceivedAt: ts(t0),
		})

		equal(t, "token uses", e.findToken(tok.ID).Uses, 1)
	})

	t.Run("EnrollDevice/FillsEnrollmentID", func(t *testing.T) {
		e := su.fresh(t)
		r := enrollRequest(e.token(e.school("a").ID, 1), "SN1")
		r.Enrollment.ID = uuid.Nil
		if _, err := e.s.EnrollDevice(e.ctx, r); err != nil {
			t.Fatal(err)
		}
		wantV7(t, "enrolment ID", r.Enrollment.ID)
		if _, err := e.s.FindEnrollmentByID(e.ctx, r.Enrollment.ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("EnrollDevice/SameSerialReusesDevice", func(t *testing.T) {
		e := su.fresh(t)
		sc := e.school("a")
		tok := e.token(sc.ID, 5)
		first, r1 := e.enroll(tok, "SN1")

		r2 := enrollRequest(tok, "SN1")
		r2.Report.Hardware.Hostname = "renamed"
		r2.Report.Hardware.MemoryBytes = 32 << 30
		r2.ReportHash = hashOf(r2.Report)
		r2.At = t0.Add(time.Hour)
		second, err := e.s.EnrollDevice(e.ctx, r2)
		if err != nil {
			t.Fatal(err)
		}
		if second.ID != first.ID {
			t.Fatalf("re-enrolment made device %s, want the existing %s", second.ID, first.ID)
		}
		want := *first
		want.Hostname = "renamed"
		want.Hardware = r2.Report.Hardware
		want.ReportHash = r2.ReportHash
		want.LastSeenAt = ts(r2.At)
		want.UpdatedAt = ts(r2.At)
		equal(t, "device after re-enrolment", e.findDevice(first.ID), &want)
		equal(t, "devices", len(e.allDevices()), 1)
		for _, r := range []*inventory.EnrollRequest{r1, r2} {
			enr, err := e.s.FindEnrollmentByID(e.ctx, r.Enrollment.ID)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "enrolment device", enr.DeviceID, first.ID)
		}
		equal(t, "token uses", e.findToken(tok.ID).Uses, 2)

		// The same serial in another school is another device.
		other, _ := e.enroll(e.token(e.school("b").ID, 1), "SN1")
		if other.ID == first.ID {
			t.Fatal("a device in another school with the same serial reused the first school's device")
		}
	})

	t.Run("EnrollDevice/EmptySerialMakesNewDevice", func(t *testing.T) {
		e := su.fresh(t)
		tok := e.token(e.school("a").ID, 5)
		a, _ := e.enroll(tok, "")
		b, _ := e.enroll(tok, "")
		if a.ID == b.ID {
			t.Fatal("two devices without a serial were merged")
		}
		equal(t, "devices", len(e.allDevices()), 2)
	})

	t.Run("EnrollDevice/Rejected", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			setup func(e *env, tok *inventory.EnrollToken, r *inventory.EnrollRequest)
			code  string
		}{
			{"ErrExpired", func(e *env, tok *inventory.EnrollToken, r *inventory.EnrollRequest) {
				r.At = tok.ExpiresAt
			}, inventory.EEXPIRED},
			{"ErrExhausted", func(e *env, tok *inventory.EnrollToken, r *inventory.EnrollRequest) {
				e.enroll(tok, "FIRST") // uses up the last use
			}, inventory.EEXHAUSTED},
			{"ErrRevoked", func(e *env, tok *inventory.EnrollToken, r *inventory.EnrollRequest) {
				if err := e.s.RevokeEnrollToken(e.ctx, tok.ID, t0.Add(-time.Minute)); err != nil {
					e.t.Fatal(err)
				}
			}, inventory.EREVOKED},
			{"ErrWrongSecret", func(e *env, tok *inventory.EnrollToken, r *inventory.EnrollRequest) {
				r.SecretHash = secret()
			}, inventory.EUNAUTHORIZED},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := su.fresh(t)
				tok := e.token(e.school("a").ID, 1)
				r := enrollRequest(tok, "SN1")
				tc.setup(e, tok, r)
				before := e.findToken(tok.ID)
				devices := e.allDevices()
				given := r.Enrollment

				d, err := e.s.EnrollDevice(e.ctx, r)
				wantCode(t, err, tc.code)
				if d != nil {
					t.Errorf("EnrollDevice returned device %s with an error", d.ID)
				}
				equal(t, "token after rejection", e.findToken(tok.ID), before)
				equal(t, "devices after rejection", e.allDevices(), devices)
				equal(t, "request enrolment after rejection", r.Enrollment, given)
				_, err = e.s.FindEnrollmentByID(e.ctx, given.ID)
				wantCode(t, err, inventory.ENOTFOUND)
			})
		}
	})

	t.Run("EnrollDevice/ErrTokenNotFound", func(t *testing.T) {
		e := su.fresh(t)
		tok := &inventory.EnrollToken{ID: uuid.New(), SecretHash: secret()}
		_, err := e.s.EnrollDevice(e.ctx, enrollRequest(tok, "SN1"))
		wantCode(t, err, inventory.ENOTFOUND)
		equal(t, "devices", len(e.allDevices()), 0)
	})

	t.Run("EnrollDevice/SingleUseTokenTwice", func(t *testing.T) {
		e := su.fresh(t)
		tok := e.token(e.school("a").ID, 1)
		e.enroll(tok, "SN1")
		_, err := e.s.EnrollDevice(e.ctx, enrollRequest(tok, "SN2"))
		wantCode(t, err, inventory.EEXHAUSTED)
		equal(t, "token uses", e.findToken(tok.ID).Uses, 1)
		equal(t, "devices", len(e.allDevices()), 1)
	})

	t.Run("EnrollDevice/Concurrent", func(t *testing.T) {
		e := su.fresh(t)
		sc := e.school("a")
		// Several rounds, so that later ones find a pool of connections
		// already open and the enrolments truly overlap.
		for round := range 5 {
			const workers, maxUses = 10, 3
			tok := e.token(sc.ID, maxUses)
			var (
				wg    sync.WaitGroup
				codes = make([]string, workers)
				start = make(chan struct{})
			)
			for i := range workers {
				r := enrollRequest(tok, fmt.Sprintf("R%dW%d", round, i))
				wg.Go(func() {
					<-start
					_, err := e.s.EnrollDevice(e.ctx, r)
					codes[i] = inventory.ErrorCode(err)
				})
			}
			close(start)
			wg.Wait()
			ok := 0
			for i, c := range codes {
				switch c {
				case "":
					ok++
				case inventory.EEXHAUSTED:
				default:
					t.Errorf("round %d, worker %d: error code %q, want none or %q", round, i, c, inventory.EEXHAUSTED)
				}
			}
			if ok != maxUses {
				t.Errorf("round %d: %d enrolments succeeded, want %d", round, ok, maxUses)
			}
			equal(t, "token uses", e.findToken(tok.ID).Uses, maxUses)
			equal(t, "devices", len(e.allDevices()), maxUses*(round+1))
		}
	})

	t.Run("EnrollDevice/ConcurrentSameSerial", func(t *testing.T) {
		e := su.fresh(t)
		sc := e.school("a")
		// One laptop enrolling through several tokens at once (a reimage
		// script run twice, say) ends up as one device.
		const workers = 5
		var (
			wg   sync.WaitGroup
			errs = make([]error, workers)
			ids  = make([]uuid.UUID, workers)
		)
		reqs := make([]*inventory.EnrollRequest, workers)
		for i := range reqs {
			reqs[i] = enrollRequest(e.token(sc.ID, 1), "SAME")
		}
		for i, r := range reqs {
			wg.Go(func() {
				d, err := e.s.EnrollDevice(e.ctx, r)
				if err == nil {
					ids[i] = d.ID
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("worker %d: %v", i, err)
			}
			if ids[i] != ids[0] {
				t.Errorf("worker %d got device %s, worker 0 got %s", i, ids[i], ids[0])
			}
		}
		equal(t, "devices", len(e.allDevices()), 1)
	})

	t.Run("CreateEnrollment", func(t *testing.T) {
		e := su.fresh(t)
		d := e.device("SN1")
		enr := &inventory.Enrollment{DeviceID: d.ID, CertSerial: "0a1b", CertNotAfter: t0.Add(time.Hour)}
		if err := e.s.CreateEnrollment(e.ctx, enr); err != nil {
			t.Fatal(err)
		}
		wantV7(t, "ID", enr.ID)
		if enr.CreatedAt.IsZero() {
			t.Error("CreatedAt was not filled")
		}
		want := &inventory.Enrollment{
			ID:           enr.ID,
			DeviceID:     d.ID,
			SchoolID:     d.SchoolID,
			CertSerial:   "0a1b",
			CertNotAfter: ts(t0.Add(time.Hour)),
			CreatedAt:    enr.CreatedAt,
		}
		equal(t, "filled enrolment", enr, want)
		got, err := e.s.FindEnrollmentByID(e.ctx, enr.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "stored enrolment", got, want)
	})

	t.Run("CreateEnrollment/ErrDeviceNotFound", func(t *testing.T) {
		e := su.fresh(t)
		err := e.s.CreateEnrollment(e.ctx, &inventory.Enrollment{
			DeviceID: uuid.New(), CertSerial: "01", CertNotAfter: t0,
		})
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("FindEnrollmentByID/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		_, err := e.s.FindEnrollmentByID(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("FindEnrollments", func(t *testing.T) {
		e := su.fresh(t)
		tok := e.token(e.school("a").ID, 2)
		_, r1 := e.enroll(tok, "SN1")
		_, r2 := e.enroll(tok, "SN2")
		unknown := uuid.New()
		got, err := e.s.FindEnrollments(e.ctx, []uuid.UUID{r1.Enrollment.ID, unknown, r2.Enrollment.ID, r1.Enrollment.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[unknown] != nil {
			t.Fatalf("got %d enrolments (%v), want the 2 known", len(got), got)
		}
		for _, r := range []*inventory.EnrollRequest{r1, r2} {
			one, err := e.s.FindEnrollmentByID(e.ctx, r.Enrollment.ID)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "enrolment found in a batch", got[r.Enrollment.ID], one)
		}
		if none, err := e.s.FindEnrollments(e.ctx, nil); err != nil || len(none) != 0 {
			t.Errorf("no IDs: %v, %v", none, err)
		}
	})

	t.Run("RevokeEnrollment", func(t *testing.T) {
		e := su.fresh(t)
		_, r := e.enroll(e.token(e.school("a").ID, 1), "SN1")
		id := r.Enrollment.ID
		if err := e.s.RevokeEnrollment(e.ctx, id, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := e.s.RevokeEnrollment(e.ctx, id, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := e.s.FindEnrollmentByID(e.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "RevokedAt", got.RevokedAt, ts(t0.Add(time.Minute)))
		wantCode(t, got.Active(t0.Add(2*time.Minute)), inventory.EREVOKED)
	})

	t.Run("SupersedeEnrollments", func(t *testing.T) {
		e := su.fresh(t)
		tok := e.token(e.school("a").ID, 3)
		d, first := e.enroll(tok, "SN1")
		_, other := e.enroll(tok, "SN2")
		renew := func(at time.Time) *inventory.Enrollment {
			t.Helper()
			enr := &inventory.Enrollment{DeviceID: d.ID, CertSerial: "0b", CertNotAfter: t0.Add(time.Hour), CreatedAt: at}
			if err := e.s.CreateEnrollment(e.ctx, enr); err != nil {
				t.Fatal(err)
			}
			return enr
		}
		second := renew(first.At.Add(time.Minute))
		third := renew(first.At.Add(2 * time.Minute))
		at := first.At.Add(3 * time.Minute)

		n, err := e.s.SupersedeEnrollments(e.ctx, second.ID, at)
		if err != nil || n != 1 {
			t.Fatalf("SupersedeEnrollments(second) = %d, %v; want 1 (the first)", n, err)
		}
		for _, tc := range []struct {
			name    string
			id      uuid.UUID
			revoked time.Time
		}{
			{"first", first.Enrollment.ID, ts(at)},
			{"second (kept)", second.ID, time.Time{}},
			{"third (newer)", third.ID, time.Time{}},
			{"other device", other.Enrollment.ID, time.Time{}},
		} {
			got, err := e.s.FindEnrollmentByID(e.ctx, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, tc.name+" RevokedAt", got.RevokedAt, tc.revoked)
		}
		n, err = e.s.SupersedeEnrollments(e.ctx, third.ID, at.Add(time.Minute))
		if err != nil || n != 1 {
			t.Fatalf("SupersedeEnrollments(third) = %d, %v; want 1 (the second)", n, err)
		}
		got, _ := e.s.FindEnrollmentByID(e.ctx, first.Enrollment.ID)
		equal(t, "first keeps its revocation time", got.RevokedAt, ts(at))
		if n, err = e.s.SupersedeEnrollments(e.ctx, third.ID, at); err != nil || n != 0 {
			t.Errorf("SupersedeEnrollments again = %d, %v; want 0", n, err)
		}
	})

	t.Run("SupersedeEnrollments/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		_, err := e.s.SupersedeEnrollments(e.ctx, uuid.New(), t0)
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("RevokeEnrollment/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		wantCode(t, e.s.RevokeEnrollment(e.ctx, uuid.New(), t0), inventory.ENOTFOUND)
	})

	t.Run("FindEnrollTokens", func(t *testing.T) {
		e := su.fresh(t)
		schools := []*inventory.School{e.school("a"), e.school("b"), e.school("c")}
		// Tokens made out of time order; two of school a share a time,
		// and then the greater ID comes first.
		var all []*inventory.EnrollToken
		for i, mk := range []struct {
			school int
			at     time.Duration
		}{{0, 2 * time.Hour}, {1, 5 * time.Hour}, {0, -time.Hour}, {2, 3 * time.Hour}, {0, 4 * time.Hour}, {1, 0}, {0, 4 * time.Hour}} {
			tok := &inventory.EnrollToken{
				SchoolID: schools[mk.school].ID, SecretHash: secret(), MaxUses: i + 1,
				ExpiresAt: t0.Add(48 * time.Hour), CreatedAt: t0.Add(mk.at),
			}
			if err := e.s.CreateEnrollToken(e.ctx, tok); err != nil {
				t.Fatal(err)
			}
			all = append(all, tok)
		}
		if err := e.s.RevokeEnrollToken(e.ctx, all[4].ID, t0); err != nil {
			t.Fatal(err)
		}
		all[4].RevokedAt = ts(t0)
		newest := slices.Clone(all)
		slices.SortFunc(newest, func(a, b *inventory.EnrollToken) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return bytes.Compare(b.ID[:], a.ID[:])
		})
		of := func(schools ...*inventory.School) []*inventory.EnrollToken {
			out := []*inventory.EnrollToken{}
			for _, tok := range newest {
				if slices.ContainsFunc(schools, func(s *inventory.School) bool { return s.ID == tok.SchoolID }) {
					out = append(out, tok)
				}
			}
			return out
		}
		for _, tc := range []struct {
			name    string
			schools []uuid.UUID
			limit   int
			want    []*inventory.EnrollToken
		}{
			{"All", nil, 0, newest},
			{"AllLimited", nil, 3, newest[:3]},
			{"One", []uuid.UUID{schools[0].ID}, 0, of(schools[0])},
			{"OneLimited", []uuid.UUID{schools[0].ID}, 2, of(schools[0])[:2]},
			{"Two", []uuid.UUID{schools[1].ID, schools[2].ID}, 10, of(schools[1], schools[2])},
			{"None", []uuid.UUID{}, 0, []*inventory.EnrollToken{}},
			{"UnknownSchool", []uuid.UUID{uuid.New()}, 0, []*inventory.EnrollToken{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.s.FindEnrollTokens(e.ctx, tc.schools, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				equal(t, "tokens", got, tc.want)
			})
		}
	})

	t.Run("FindEnrollmentsByDevice", func(t *testing.T) {
		e := su.fresh(t)
		tok := e.token(e.school("a").ID, 2)
		d, first := e.enroll(tok, "SN1")
		other, _ := e.enroll(tok, "SN2")
		var renewals []*inventory.Enrollment
		for _, at := range []time.Duration{2 * time.Hour, time.Hour, 2 * time.Hour} {
			enr := &inventory.Enrollment{DeviceID: d.ID, CertSerial: hex.EncodeToString(secret()[:8]),
				CertNotAfter: t0.Add(90 * 24 * time.Hour), CreatedAt: t0.Add(at)}
			if err := e.s.CreateEnrollment(e.ctx, enr); err != nil {
				t.Fatal(err)
			}
			renewals = append(renewals, enr)
		}
		if _, err := e.s.SupersedeEnrollments(e.ctx, renewals[2].ID, t0.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		want := []*inventory.Enrollment{renewals[0], renewals[2], renewals[1], &first.Enrollment}
		if bytes.Compare(renewals[0].ID[:], renewals[2].ID[:]) < 0 {
			want[0], want[1] = want[1], want[0]
		}
		for _, w := range want {
			got, err := e.s.FindEnrollmentByID(e.ctx, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			*w = *got // with the revocations
		}
		got, err := e.s.FindEnrollmentsByDevice(e.ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "enrolments", got, want)

		got, err = e.s.FindEnrollmentsByDevice(e.ctx, other.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].DeviceID != other.ID {
			t.Errorf("other device's enrolments = %s", dump(got))
		}
		got, err = e.s.FindEnrollmentsByDevice(e.ctx, uuid.New())
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "enrolments of an unknown device", got, []*inventory.Enrollment{})
	})
}
