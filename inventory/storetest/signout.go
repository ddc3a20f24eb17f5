package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// shared marks kit shared, as trolley iPads are.
func shared(a *inventory.Asset) { a.Kind, a.Shared = inventory.KindTablet, true }

func (su suite) testSignOutStore(t *testing.T) {
	t.Run("Flow", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		ipad := e.asset(st.school.ID, "IPAD1", "T-1", shared)
		endOfDay := time.Date(2025, 9, 1, 16, 0, 0, 0, time.UTC)

		s := &inventory.SignOut{AssetID: ipad.ID, UserID: st.borrower.ID, OutBy: st.tech.ID, OutAt: t0, DueBack: endOfDay}
		do(t, e.s.CreateSignOut(e.ctx, s))
		wantV7(t, "ID", s.ID)
		equal(t, "filled sign-out", s, &inventory.SignOut{ID: s.ID, SchoolID: st.school.ID, AssetID: ipad.ID,
			UserID: st.borrower.ID, OutBy: st.tech.ID, OutAt: ts(t0), DueBack: endOfDay})
		got, err := e.s.FindSignOutByID(e.ctx, s.ID)
		do(t, err)
		equal(t, "stored sign-out", got, s)
		if !got.Out() {
			t.Error("a new sign-out is not out")
		}

		// Out twice is refused.
		err = e.s.CreateSignOut(e.ctx, &inventory.SignOut{AssetID: ipad.ID, UserID: st.head.ID, OutBy: st.tech.ID})
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "IPAD1", "signed out already")

		// Back once.
		back := t0.Add(6 * time.Hour)
		do(t, e.s.ReturnSignOut(e.ctx, s.ID, st.tech.ID, back))
		got, err = e.s.FindSignOutByID(e.ctx, s.ID)
		do(t, err)
		want := *s
		want.BackAt, want.BackBy = ts(back), st.tech.ID
		equal(t, "returned sign-out", got, &want)
		wantCode(t, e.s.ReturnSignOut(e.ctx, s.ID, st.tech.ID, back.Add(time.Hour)), inventory.ECONFLICT)
		got, _ = e.s.FindSignOutByID(e.ctx, s.ID)
		equal(t, "sign-out after a second return", got, &want)
		wantCode(t, e.s.ReturnSignOut(e.ctx, uuid.New(), st.tech.ID, back), inventory.ENOTFOUND)

		// Back, it may go out again.
		again := &inventory.SignOut{AssetID: ipad.ID, UserID: st.head.ID, OutBy: st.tech.ID, OutAt: t0.Add(24 * time.Hour)}
		do(t, e.s.CreateSignOut(e.ctx, again))
		_, err = e.s.FindSignOutByID(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("CreateSignOut/Refused", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		other := e.staff("b", inventory.LoanSettings{})
		laptop := e.asset(st.school.ID, "LAPTOP", "")
		lost := e.asset(st.school.ID, "LOST", "", shared, func(a *inventory.Asset) { a.Status = inventory.AssetLost })
		ipad := e.asset(st.school.ID, "IPAD", "", shared)
		// Kit on a loan, marked shared afterwards, is not signed out either.
		lent := e.asset(st.school.ID, "LENT", "")
		e.lend(st, lent, t0)
		lent, err := e.s.FindAssetByID(e.ctx, lent.ID)
		do(t, err)
		lent.Shared = true
		do(t, e.s.UpdateAsset(e.ctx, lent))
		for _, tc := range []struct {
			name  string
			s     inventory.SignOut
			code  string
			parts []string
		}{
			{"NotShared", inventory.SignOut{AssetID: laptop.ID, UserID: st.borrower.ID, OutBy: st.tech.ID}, inventory.ECONFLICT, []string{"LAPTOP", "not shared"}},
			{"Lost", inventory.SignOut{AssetID: lost.ID, UserID: st.borrower.ID, OutBy: st.tech.ID}, inventory.ECONFLICT, []string{"LOST", "lost"}},
			{"OnLoan", inventory.SignOut{AssetID: lent.ID, UserID: st.borrower.ID, OutBy: st.tech.ID}, inventory.ECONFLICT, []string{"LENT"}},
			{"OtherSchool", inventory.SignOut{SchoolID: other.school.ID, AssetID: ipad.ID, UserID: other.borrower.ID, OutBy: other.tech.ID}, inventory.EINVALID, nil},
			{"UnknownKit", inventory.SignOut{AssetID: uuid.New(), UserID: st.borrower.ID, OutBy: st.tech.ID}, inventory.ENOTFOUND, nil},
			{"UnknownPerson", inventory.SignOut{AssetID: ipad.ID, UserID: uuid.New(), OutBy: st.tech.ID}, inventory.ENOTFOUND, nil},
			{"UnknownRecorder", inventory.SignOut{AssetID: ipad.ID, UserID: st.borrower.ID, OutBy: uuid.New()}, inventory.ENOTFOUND, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := tc.s
				err := e.s.CreateSignOut(e.ctx, &s)
				wantCode(t, err, tc.code)
				wantMessage(t, err, tc.parts...)
			})
		}
		all, err := e.s.FindSignOuts(e.ctx, inventory.SignOutFilter{})
		do(t, err)
		equal(t, "sign-outs stored", len(all), 0)
	})

	t.Run("FindSignOuts", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		other := e.staff("b", inventory.LoanSettings{})
		var outs []*inventory.SignOut // oldest first
		for i, sp := range []struct {
			school *staff
			user   uuid.UUID
			back   bool
		}{
			{st, st.borrower.ID, true}, {st, st.head.ID, false}, {st, st.borrower.ID, false},
			{other, other.borrower.ID, false}, {st, st.borrower.ID, true},
		} {
			ipad := e.asset(sp.school.school.ID, "IPAD"+string(rune('A'+i)), "", shared)
			s := &inventory.SignOut{AssetID: ipad.ID, UserID: sp.user, OutBy: sp.school.tech.ID, OutAt: t0.Add(time.Duration(i) * time.Hour)}
			do(t, e.s.CreateSignOut(e.ctx, s))
			if sp.back {
				do(t, e.s.ReturnSignOut(e.ctx, s.ID, sp.school.tech.ID, s.OutAt.Add(time.Minute)))
			}
			got, err := e.s.FindSignOutByID(e.ctx, s.ID)
			do(t, err)
			outs = append(outs, got)
		}
		idsOf := func(list []*inventory.SignOut) []uuid.UUID {
			out := []uuid.UUID{}
			for _, s := range list {
				out = append(out, s.ID)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    inventory.SignOutFilter
			want []*inventory.SignOut
		}{
			{"All", inventory.SignOutFilter{}, []*inventory.SignOut{outs[4], outs[3], outs[2], outs[1], outs[0]}},
			{"OnlyOut", inventory.SignOutFilter{OnlyOut: true}, []*inventory.SignOut{outs[3], outs[2], outs[1]}},
			{"School", inventory.SignOutFilter{SchoolIDs: []uuid.UUID{st.school.ID}, OnlyOut: true}, []*inventory.SignOut{outs[2], outs[1]}},
			{"NoSchool", inventory.SignOutFilter{SchoolIDs: []uuid.UUID{}}, nil},
			{"User", inventory.SignOutFilter{UserID: st.borrower.ID}, []*inventory.SignOut{outs[4], outs[2], outs[0]}},
			{"Asset", inventory.SignOutFilter{AssetID: outs[2].AssetID}, []*inventory.SignOut{outs[2]}},
			{"Limit", inventory.SignOutFilter{Limit: 2}, []*inventory.SignOut{outs[4], outs[3]}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.s.FindSignOuts(e.ctx, tc.f)
				do(t, err)
				equal(t, "sign-outs", idsOf(got), idsOf(tc.want))
				if len(got) > 0 {
					equal(t, "first", got[0], tc.want[0])
				}
			})
		}
	})
}
