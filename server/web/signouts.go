package web

import (
	"net/http"
	"time"
	_ "time/tzdata" // Europe/London for the school day, on hosts without zoneinfo

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// signOutRow is a day sign-out as a page shows it.
type signOutRow struct {
	SignOut *inventory.SignOut
	Device  string
	Holder  string
	Late    bool // still out after the end of its day
	CanIn   bool // the viewer may sign it back in
}

func (s *server) signOutRows(n *names, outs []*inventory.SignOut, assets map[uuid.UUID]*inventory.Asset) []signOutRow {
	now := s.now()
	v := viewerOf(n.ctx)
	rows := make([]signOutRow, 0, len(outs))
	for _, o := range outs {
		row := signOutRow{SignOut: o, Holder: n.of(o.UserID), Late: o.Out() && now.After(o.DueBack)}
		row.CanIn = o.Out() && v.user != nil && (o.UserID == v.user.ID || v.holds(o.SchoolID, kitManagers...))
		if a, ok := assets[o.AssetID]; ok {
			row.Device = a.Label()
		} else if a, err := s.store.FindAssetByID(n.ctx, o.AssetID); err == nil {
			row.Device = a.Label()
		}
		rows = append(rows, row)
	}
	return rows
}

// trolleyPage is the data of the shared-kit page.
type trolleyPage struct {
	Shared  []*inventory.Asset // shared kit in the trolley now
	Out     []signOutRow       // out now, late first
	Staff   []*inventory.User  // whom a technician may sign kit out to
	Manager bool
	Error   string
}

func (s *server) trolleyPage(r *http.Request, msg string) (*trolleyPage, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	ids := v.schools
	page := &trolleyPage{Manager: v.mayAnywhere(kitManagers...), Error: msg}
	shared := true
	kit, err := s.store.FindAssets(ctx, inventory.AssetFilter{SchoolIDs: ids, Shared: &shared, Sort: inventory.AssetsByAssetTag, Limit: inventory.MaxPageSize})
	if err != nil {
		return nil, err
	}
	outs, err := s.store.FindSignOuts(ctx, inventory.SignOutFilter{SchoolIDs: ids, OnlyOut: true, Limit: inventory.MaxPageSize})
	if err != nil {
		return nil, err
	}
	byID := map[uuid.UUID]*inventory.Asset{}
	busy := map[uuid.UUID]bool{}
	for _, o := range outs {
		busy[o.AssetID] = true
	}
	for _, a := range kit {
		byID[a.ID] = a
		if !busy[a.ID] && a.Status.Lendable() {
			page.Shared = append(page.Shared, a)
		}
	}
	rows := s.signOutRows(s.names(ctx), outs, byID)
	for _, late := range []bool{true, false} {
		for _, row := range rows {
			if row.Late == late {
				page.Out = append(page.Out, row)
			}
		}
	}
	if managed := v.schoolsWith(kitManagers...); managed == nil || len(managed) > 0 {
		if page.Staff, err = s.store.FindUsers(ctx, inventory.UserFilter{SchoolIDs: managed}); err != nil {
			return nil, err
		}
		page.Staff = enabled(page.Staff)
	}
	return page, nil
}

func (s *server) handleTrolleyPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := s.trolleyPage(r, "")
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "trolley.html", "Shared kit", page)
	})
}

// schoolTime is the time zone of the school day.
var schoolTime = func() *time.Location {
	if loc, err := time.LoadLocation("Europe/London"); err == nil {
		return loc
	}
	return time.UTC
}()

// endOfDay is the last moment of t's school day (in UK time).
func endOfDay(t time.Time) time.Time {
	y, m, d := t.In(schoolTime).Date()
	return time.Date(y, m, d, 23, 59, 59, 0, schoolTime)
}

// signOutKit signs shared kit out for the day: to the viewer, or, for a
// technician, to anyone at the school.
func (s *server) signOutKit(r *http.Request, assetText, personText string) (*inventory.SignOut, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	a, err := s.visibleKit(r, assetText)
	if err != nil {
		return nil, err
	}
	person := v.user.ID
	if personText != "" && personText != v.user.ID.String() {
		id, err := uuid.Parse(personText)
		if !v.holds(a.SchoolID, kitManagers...) {
			return nil, inventory.Errorf(inventory.EFORBIDDEN, "Only a technician signs kit out to someone else.")
		} else if err != nil || !s.holdsRoleAt(ctx, id, a.SchoolID) {
			return nil, inventory.Errorf(inventory.EINVALID, "Person: choose a member of staff at this school.")
		}
		person = id
	}
	now := s.now()
	o := &inventory.SignOut{SchoolID: a.SchoolID, AssetID: a.ID, UserID: person, OutBy: v.user.ID, OutAt: now, DueBack: endOfDay(now)}
	if err := s.store.CreateSignOut(ctx, o); err != nil {
		return nil, err
	}
	s.audit(r, inventory.AuditEntry{SchoolID: a.SchoolID, Action: "signout.out", Record: "asset/" + a.ID.String(), Detail: a.Label() + " signed out to " + s.names(ctx).of(person)})
	return o, nil
}

// visibleKit returns shared kit of a school where the viewer holds a role.
func (s *server) visibleKit(r *http.Request, idText string) (*inventory.Asset, error) {
	notFound := inventory.Errorf(inventory.ENOTFOUND, "There is no shared kit %s at your school.", idText)
	id, err := uuid.Parse(idText)
	if err != nil {
		return nil, notFound
	}
	a, err := s.store.FindAssetByID(r.Context(), id)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND || err == nil && !viewerOf(r.Context()).canSee(a.SchoolID) {
		return nil, notFound
	}
	return a, err
}

// handleKitOut signs shared kit out for today.
func (s *server) handleKitOut() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.signOutKit(r, r.PostFormValue("asset"), r.PostFormValue("person")); err != nil {
			s.formFailed(w, r, err, func() (any, string, string, error) {
				page, err := s.trolleyPage(r, inventory.ErrorMessage(err))
				return page, "trolley.html", "Shared kit", err
			})
			return
		}
		http.Redirect(w, r, "/trolley?done=signed-out", http.StatusSeeOther)
	})
}

// handleKitIn records shared kit back: by its holder or a technician.
func (s *server) handleKitIn() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		v := viewerOf(ctx)
		notFound := inventory.Errorf(inventory.ENOTFOUND, "There is no sign-out %s at your school.", r.PathValue("id"))
		var o *inventory.SignOut
		err := error(notFound)
		if id, perr := uuid.Parse(r.PathValue("id")); perr == nil {
			if o, err = s.store.FindSignOutByID(ctx, id); inventory.ErrorCode(err) == inventory.ENOTFOUND {
				err = notFound
			}
		}
		switch {
		case err != nil:
		case !v.canSee(o.SchoolID):
			err = notFound
		case o.UserID != v.user.ID && !v.holds(o.SchoolID, kitManagers...):
			err = inventory.Errorf(inventory.EFORBIDDEN, "Only the person who has it, or a technician, signs it back in.")
		}
		if err == nil {
			err = s.store.ReturnSignOut(ctx, o.ID, v.user.ID, s.now())
		}
		if err != nil {
			s.formFailed(w, r, err, func() (any, string, string, error) {
				page, err := s.trolleyPage(r, inventory.ErrorMessage(err))
				return page, "trolley.html", "Shared kit", err
			})
			return
		}
		s.audit(r, inventory.AuditEntry{SchoolID: o.SchoolID, Action: "signout.back", Record: "asset/" + o.AssetID.String(), Detail: "signed back in"})
		http.Redirect(w, r, "/trolley?done=signed-in", http.StatusSeeOther)
	})
}
