package web

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/agreement"
)

// The leaver's exit check-in: everything a leaver holds, each piece of
// kit taken through its steps, the leaver's confirmation, and the
// technician's and line manager's sign-off; then a record for the
// personnel file.

// exitStarters start check-ins and see every check-in of their school.
var exitStarters = []inventory.Role{inventory.RoleTechnician, inventory.RoleHeadteacher, inventory.RoleLineManager}

// exitReaders see every check-in of their school.
var exitReaders = []inventory.Role{inventory.RoleTechnician, inventory.RoleHeadteacher, inventory.RoleLineManager, inventory.RoleAuditor}

// exitStepNames are the steps as people read them.
var exitStepNames = map[string]string{
	inventory.StepReturned:       "Returned",
	inventory.StepCredentials:    "PINs and passwords handed over, or signed in on the day for the reset",
	inventory.StepAccountRemoved: "Activation Lock and personal accounts removed",
	inventory.StepFactoryReset:   "Factory reset done",
	inventory.StepCleared:        "Cleared for reuse",
}

func exitStepName(step string) string {
	if n, ok := exitStepNames[step]; ok {
		return n
	}
	return step
}

// startExit begins a check-in for a person leaving on a date, listing
// what they hold: kit on loan to them, kit assigned to them, trolley kit
// not back, and kit whose PINs they saw or used.
func (s *server) startExit(r *http.Request, schoolSlug, personText, dateText string) (*inventory.Exit, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	sc, err := s.managedSchool(r, schoolSlug, exitStarters, "start a leaver's check-in")
	if err != nil {
		return nil, err
	}
	pid, err := uuid.Parse(personText)
	if err != nil || !s.holdsRoleAt(ctx, pid, sc.ID) {
		return nil, inventory.Errorf(inventory.EINVALID, "Leaver: choose a member of staff at %s.", sc.Name)
	}
	leaver, err := s.store.FindUserByID(ctx, pid)
	if err != nil {
		return nil, err
	}
	date, err := parseDate(dateText)
	if err != nil || date.IsZero() {
		return nil, inventory.Errorf(inventory.EINVALID, "Leaving date: give the last working day, as yyyy-mm-dd or dd/mm/yyyy.")
	}
	e := &inventory.Exit{SchoolID: sc.ID, PersonID: pid, LeavingDate: date, StartedBy: v.user.ID, StartedAt: s.now()}
	add := func(a uuid.UUID, src inventory.ExitSource, loan uuid.UUID) {
		if e.Item(a) == nil {
			e.Items = append(e.Items, inventory.ExitItem{AssetID: a, Source: src, LoanID: loan, Steps: map[string]inventory.ExitStepDone{}})
		}
	}
	loans, err := s.store.FindLoans(ctx, inventory.LoanFilter{SchoolIDs: []uuid.UUID{sc.ID}, BorrowerID: pid, Statuses: []inventory.LoanStatus{inventory.LoanOnLoan}, Limit: inventory.MaxPageSize})
	if err != nil {
		return nil, err
	}
	for _, l := range loans {
		add(l.AssetID, inventory.ExitFromLoan, l.ID)
	}
	assigned, err := s.store.FindAssets(ctx, inventory.AssetFilter{SchoolIDs: []uuid.UUID{sc.ID}, Search: leaver.Email, Limit: inventory.MaxPageSize})
	if err != nil {
		return nil, err
	}
	for _, a := range assigned {
		if strings.EqualFold(a.AssignedTo, leaver.Email) && a.Status != inventory.AssetDisposed {
			add(a.ID, inventory.ExitFromAssigned, uuid.Nil)
		}
	}
	outs, err := s.store.FindSignOuts(ctx, inventory.SignOutFilter{SchoolIDs: []uuid.UUID{sc.ID}, UserID: pid, OnlyOut: true, Limit: inventory.MaxPageSize})
	if err != nil {
		return nil, err
	}
	for _, o := range outs {
		add(o.AssetID, inventory.ExitFromSignOut, uuid.Nil)
	}
	seen, err := s.store.FindPINLog(ctx, inventory.PINLogFilter{SchoolIDs: []uuid.UUID{sc.ID}, ActorID: pid, Limit: inventory.MaxPageSize})
	if err != nil {
		return nil, err
	}
	for _, p := range seen {
		if p.Action == inventory.PINActionView || p.Action == inventory.PINActionUse {
			if a, err := s.store.FindAssetByID(ctx, p.AssetID); err == nil && a.Status != inventory.AssetDisposed {
				add(a.ID, inventory.ExitFromPIN, uuid.Nil)
			}
		}
	}
	if err := s.store.CreateExit(ctx, e); err != nil {
		return nil, err
	}
	s.audit(r, inventory.AuditEntry{SchoolID: sc.ID, Action: "exit.start", Record: "exit/" + e.ID.String(),
		Detail: "started the exit check-in of " + leaver.Name + ", leaving " + date.Format(time.DateOnly) + ", with " + plural(len(e.Items), "item")})
	return e, nil
}

// visibleExit returns the check-in in the path for its leaver and the
// school's exit readers.
func (s *server) visibleExit(ctx context.Context, idText string) (*inventory.Exit, error) {
	notFound := inventory.Errorf(inventory.ENOTFOUND, "There is no exit check-in %s that you can see.", idText)
	id, err := uuid.Parse(idText)
	if err != nil {
		return nil, notFound
	}
	e, err := s.store.FindExitByID(ctx, id)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND {
		return nil, notFound
	} else if err != nil {
		return nil, err
	}
	v := viewerOf(ctx)
	if v.user.ID != e.PersonID && !v.holds(e.SchoolID, exitReaders...) {
		return nil, notFound
	}
	return e, nil
}

// noteResets records, by itself, the factory reset of any laptop on an
// open check-in whose agent has enrolled again since the check-in began
// with a newer operating system install, and saves the check-in. It
// returns whether it changed anything.
func (s *server) noteResets(ctx context.Context, e *inventory.Exit) (bool, error) {
	if e.Status != inventory.ExitOpen {
		return false, nil
	}
	changed := false
	for _, it := range e.Items {
		if _, done := it.Steps[inventory.StepFactoryReset]; done || it.Steps[inventory.StepReturned].At.IsZero() {
			continue
		}
		a, err := s.store.FindAssetByID(ctx, it.AssetID)
		if err != nil || a.DeviceID == uuid.Nil {
			continue
		}
		d, err := s.store.FindDeviceByID(ctx, a.DeviceID)
		if err != nil || !d.Hardware.OSInstallDate.After(e.StartedAt) {
			continue
		}
		note := "The agent enrolled again with " + strings.TrimSpace(d.OSName+" "+d.OSVersion) + " installed " + when(d.Hardware.OSInstallDate) + ", after the check-in began."
		if err := e.DoStep(it.AssetID, inventory.StepFactoryReset, inventory.ExitStepDone{At: s.now(), Note: note, Auto: true}); err == nil {
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	if err := s.store.UpdateExit(ctx, e, nil); err != nil {
		return false, err
	}
	return true, nil
}

// exitStep records a step of one item for the viewer: the technician, or
// the line manager for the hand-over of credentials.
func (s *server) exitStep(r *http.Request, idText, assetText, step, note string) (*inventory.Exit, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	e, err := s.visibleExit(ctx, idText)
	if err != nil {
		return nil, err
	}
	may := v.holds(e.SchoolID, kitManagers...) || step == inventory.StepCredentials && v.holds(e.SchoolID, inventory.RoleLineManager)
	if !may || v.user.ID == e.PersonID {
		return nil, inventory.Errorf(inventory.EFORBIDDEN, "The technician records the steps of a check-in (the line manager may record the hand-over of PINs and passwords), and never on their own.")
	}
	aid, err := uuid.Parse(assetText)
	if err != nil {
		return nil, inventory.Errorf(inventory.EINVALID, "Device: %q is not on this check-in.", assetText)
	}
	if err := e.DoStep(aid, step, inventory.ExitStepDone{At: s.now(), By: v.user.ID, Note: note}); err != nil {
		return nil, err
	}
	if err := s.store.UpdateExit(ctx, e, nil); err != nil {
		return nil, err
	}
	detail := step + " for asset/" + aid.String()
	if note = strings.TrimSpace(note); note != "" {
		detail += ": " + note
	}
	s.audit(r, inventory.AuditEntry{SchoolID: e.SchoolID, Action: "exit.step", Record: "exit/" + e.ID.String(), Detail: detail})
	return e, nil
}

// exitSignOff records a sign-off; the last one completes the check-in,
// which stores its record and puts the kit back in stock.
func (s *server) exitSignOff(r *http.Request, idText, as string) (*inventory.Exit, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	e, err := s.visibleExit(ctx, idText)
	if err != nil {
		return nil, err
	}
	switch {
	case as == inventory.SignTech && !v.holds(e.SchoolID, kitManagers...),
		as == inventory.SignManager && !v.holds(e.SchoolID, inventory.RoleLineManager, inventory.RoleHeadteacher):
		return nil, inventory.Errorf(inventory.EFORBIDDEN, "Your roles do not let you sign this check-in off as %s.", strings.ReplaceAll(as, "_", " "))
	}
	if err := e.SignOff(as, v.user.ID, s.now()); err != nil {
		return nil, err
	}
	var record []byte
	if e.Status == inventory.ExitCompleted {
		if record, err = s.exitRecord(ctx, e); err != nil {
			return nil, err
		}
	}
	if err := s.store.UpdateExit(ctx, e, record); err != nil {
		return nil, err
	}
	s.audit(r, inventory.AuditEntry{SchoolID: e.SchoolID, Action: "exit.signoff", Record: "exit/" + e.ID.String(), Detail: "signed off as " + as})
	if e.Status == inventory.ExitCompleted {
		s.audit(r, inventory.AuditEntry{SchoolID: e.SchoolID, Action: "exit.complete", Record: "exit/" + e.ID.String(), Detail: "completed; " + plural(len(e.Items), "item") + " back in stock, their PINs retired"})
	}
	return e, nil
}

// exitRecord renders the completed check-in for the personnel file.
func (s *server) exitRecord(ctx context.Context, e *inventory.Exit) ([]byte, error) {
	sc, err := s.store.FindSchoolByID(ctx, e.SchoolID)
	if err != nil {
		return nil, err
	}
	n := s.names(ctx)
	leaver := n.of(e.PersonID)
	rec := agreement.Record{Title: "Exit check-in record", School: sc.Name, At: e.CompletedAt, Footer: "Exit check-in of " + leaver,
		Sections: []agreement.Section{{Heading: "Leaver", Rows: [][2]string{
			{"Name", leaver}, {"Leaving date", day(e.LeavingDate)}, {"Check-in started", when(e.StartedAt) + " by " + n.of(e.StartedBy)},
			{"Leaver's confirmation", when(e.LeaverConfirmedAt)},
			{"Technician's sign-off", n.of(e.TechSignedBy) + ", " + when(e.TechSignedAt)},
			{"Line manager's sign-off", n.of(e.ManagerSignedBy) + ", " + when(e.ManagerSignedAt)},
			{"Completed", when(e.CompletedAt)},
		}}}}
	for _, it := range e.Items {
		label := "kit no longer in the register"
		if a, err := s.store.FindAssetByID(ctx, it.AssetID); err == nil {
			label = kindTitle(a.Kind) + ": " + a.Label()
		}
		sec := agreement.Section{Heading: label, Rows: [][2]string{{"Why it is on the check-in", exitSourceText(it.Source)}}}
		for _, step := range inventory.ExitSteps {
			d := it.Steps[step]
			v := when(d.At) + " by " + n.of(d.By)
			if d.Auto {
				v = when(d.At) + ", recorded by Rollcall"
			}
			if d.Note != "" {
				v += ": " + d.Note
			}
			sec.Rows = append(sec.Rows, [2]string{exitStepName(step), v})
		}
		rec.Sections = append(rec.Sections, sec)
	}
	if len(e.Items) == 0 {
		rec.Sections = append(rec.Sections, agreement.Section{Heading: "Kit", Rows: [][2]string{{"Held", "nothing recorded in Rollcall"}}})
	}
	return rec.PDF()
}

func exitSourceText(src inventory.ExitSource) string {
	switch src {
	case inventory.ExitFromLoan:
		return "on loan to the leaver"
	case inventory.ExitFromAssigned:
		return "assigned to the leaver in the register"
	case inventory.ExitFromSignOut:
		return "signed out from the trolley and not back"
	case inventory.ExitFromPIN:
		return "the leaver saw or used its PIN"
	}
	return string(src)
}

// exitRow is a check-in in a list.
type exitRow struct {
	Exit     *inventory.Exit
	Leaver   string
	DaysLeft int
	Open     int // items with steps open
}

func (s *server) exitRows(ctx context.Context, exits []*inventory.Exit) []exitRow {
	n := s.names(ctx)
	today := s.now().UTC().Truncate(24 * time.Hour)
	rows := make([]exitRow, 0, len(exits))
	for _, e := range exits {
		row := exitRow{Exit: e, Leaver: n.of(e.PersonID), DaysLeft: int(e.LeavingDate.Sub(today).Hours() / 24)}
		for _, it := range e.Items {
			if !it.Done() {
				row.Open++
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// exitsPage is the list of check-ins and the form to start one.
type exitsPage struct {
	Open     []exitRow
	Done     []exitRow
	Schools  []*inventory.School
	Staff    []*inventory.User
	CanStart bool
	Error    string
}

func (s *server) exitsPage(r *http.Request, msg string) (*exitsPage, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	page := &exitsPage{Error: msg, CanStart: v.mayAnywhere(exitStarters...)}
	f := inventory.ExitFilter{SchoolIDs: v.schoolsWith(exitReaders...), Limit: inventory.MaxPageSize}
	if f.SchoolIDs != nil && len(f.SchoolIDs) == 0 {
		f = inventory.ExitFilter{PersonID: v.user.ID}
	}
	exits, err := s.store.FindExits(ctx, f)
	if err != nil {
		return nil, err
	}
	for _, row := range s.exitRows(ctx, exits) {
		if row.Exit.Status == inventory.ExitOpen {
			page.Open = append(page.Open, row)
		} else {
			page.Done = append(page.Done, row)
		}
	}
	slices.SortFunc(page.Open, func(a, b exitRow) int { return a.DaysLeft - b.DaysLeft })
	if page.CanStart {
		if page.Schools, err = s.schoolsFor(r, exitStarters); err != nil {
			return nil, err
		}
		if page.Staff, err = s.store.FindUsers(ctx, inventory.UserFilter{SchoolIDs: v.schoolsWith(exitStarters...)}); err != nil {
			return nil, err
		}
		page.Staff = enabled(page.Staff)
	}
	return page, nil
}

func (s *server) handleExitsPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := s.exitsPage(r, "")
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "exits.html", "Leavers", page)
	})
}

func (s *server) handleExitStart() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := s.startExit(r, r.PostFormValue("school"), r.PostFormValue("person"), r.PostFormValue("leaving_date"))
		if err != nil {
			s.formFailed(w, r, err, func() (any, string, string, error) {
				page, perr := s.exitsPage(r, inventory.ErrorMessage(err))
				return page, "exits.html", "Leavers", perr
			})
			return
		}
		http.Redirect(w, r, "/exits/"+e.ID.String()+"?done=exit-started", http.StatusSeeOther)
	})
}

// exitItemView is one item on a check-in's page.
type exitItemView struct {
	Item  inventory.ExitItem
	Label string
	Steps []exitStepView
}

// exitStepView is one step of an item.
type exitStepView struct {
	Step, Name string
	Done       *inventory.ExitStepDone
	By         string
	CanDo      bool
}

// exitPage is a check-in's page.
type exitPage struct {
	Exit      *inventory.Exit
	Leaver    string
	Items     []exitItemView
	Open      []string
	IsLeaver  bool
	CanTech   bool
	CanManage bool
	Error     string
}

func (s *server) exitPage(r *http.Request, e *inventory.Exit, msg string) (*exitPage, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	n := s.names(ctx)
	page := &exitPage{Exit: e, Leaver: n.of(e.PersonID), Open: e.Open(), IsLeaver: v.user.ID == e.PersonID, Error: msg}
	page.CanTech = v.holds(e.SchoolID, kitManagers...) && !page.IsLeaver
	page.CanManage = v.holds(e.SchoolID, inventory.RoleLineManager, inventory.RoleHeadteacher) && !page.IsLeaver
	for _, it := range e.Items {
		view := exitItemView{Item: it, Label: "kit no longer in the register"}
		if a, err := s.store.FindAssetByID(ctx, it.AssetID); err == nil {
			view.Label = kindTitle(a.Kind) + ": " + a.Label()
		}
		for _, step := range inventory.ExitSteps {
			sv := exitStepView{Step: step, Name: exitStepName(step)}
			if d, ok := it.Steps[step]; ok {
				sv.Done, sv.By = &d, n.of(d.By)
				if d.Auto {
					sv.By = "Rollcall"
				}
			} else if e.Status == inventory.ExitOpen {
				sv.CanDo = page.CanTech || step == inventory.StepCredentials && v.holds(e.SchoolID, inventory.RoleLineManager) && !page.IsLeaver
			}
			view.Steps = append(view.Steps, sv)
		}
		page.Items = append(page.Items, view)
		for i, o := range page.Open { // name the kit as people know it
			page.Open[i] = strings.Replace(o, "kit "+it.AssetID.String(), view.Label, 1)
		}
	}
	return page, nil
}

func (s *server) handleExitPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := s.visibleExit(r.Context(), r.PathValue("id"))
		if err == nil {
			_, err = s.noteResets(r.Context(), e)
		}
		var page *exitPage
		if err == nil {
			page, err = s.exitPage(r, e, "")
		}
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "exit.html", "Exit check-in", page)
	})
}

// exitFormFailed re-renders a check-in's page with the error.
func (s *server) exitFormFailed(w http.ResponseWriter, r *http.Request, err error) {
	s.formFailed(w, r, err, func() (any, string, string, error) {
		e, ferr := s.visibleExit(r.Context(), r.PathValue("id"))
		if ferr != nil {
			return nil, "", "", ferr
		}
		page, ferr := s.exitPage(r, e, inventory.ErrorMessage(err))
		return page, "exit.html", "Exit check-in", ferr
	})
}

func (s *server) handleExitStep() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := s.exitStep(r, r.PathValue("id"), r.PostFormValue("asset"), r.PostFormValue("step"), r.PostFormValue("note"))
		if err != nil {
			s.exitFormFailed(w, r, err)
			return
		}
		http.Redirect(w, r, "/exits/"+e.ID.String()+"?done=exit-step", http.StatusSeeOther)
	})
}

func (s *server) handleExitSignOff() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := s.exitSignOff(r, r.PathValue("id"), r.PostFormValue("as"))
		if err != nil {
			s.exitFormFailed(w, r, err)
			return
		}
		done := "exit-signed"
		if e.Status == inventory.ExitCompleted {
			done = "exit-completed"
		}
		http.Redirect(w, r, "/exits/"+e.ID.String()+"?done="+done, http.StatusSeeOther)
	})
}

// handleExitRecord sends the completed check-in's record.
func (s *server) handleExitRecord(fail func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := s.visibleExit(r.Context(), r.PathValue("id"))
		var pdf []byte
		if err == nil {
			pdf, err = s.store.FindExitRecord(r.Context(), e.ID)
		}
		if inventory.ErrorCode(err) == inventory.ENOTFOUND && e != nil {
			err = inventory.Errorf(inventory.ENOTFOUND, "The check-in is not completed yet, so it has no record.")
		}
		if err != nil {
			fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", `attachment; filename="exit-check-in-`+e.ID.String()[:8]+`.pdf"`)
		w.Header().Set("Cache-Control", "private, no-store")
		w.Write(pdf)
	})
}

// exitJSON is a check-in as the API shows it.
type exitJSON struct {
	ID                string               `json:"id"`
	SchoolID          string               `json:"school_id"`
	PersonID          string               `json:"person_id"`
	LeavingDate       string               `json:"leaving_date"`
	Status            string               `json:"status"`
	Items             []inventory.ExitItem `json:"items"`
	Open              []string             `json:"open"`
	LeaverConfirmedAt *string              `json:"leaver_confirmed_at"`
	TechSignedAt      *string              `json:"tech_signed_at"`
	ManagerSignedAt   *string              `json:"manager_signed_at"`
	CompletedAt       *string              `json:"completed_at"`
	Version           int                  `json:"version"`
}

func toExitJSON(e *inventory.Exit) exitJSON {
	out := exitJSON{ID: e.ID.String(), SchoolID: e.SchoolID.String(), PersonID: e.PersonID.String(), LeavingDate: e.LeavingDate.Format(time.DateOnly),
		Status: string(e.Status), Items: e.Items, Open: e.Open(), LeaverConfirmedAt: optTime(e.LeaverConfirmedAt), TechSignedAt: optTime(e.TechSignedAt),
		ManagerSignedAt: optTime(e.ManagerSignedAt), CompletedAt: optTime(e.CompletedAt), Version: e.Version}
	if out.Items == nil {
		out.Items = []inventory.ExitItem{}
	}
	return out
}

func (s *server) handleExitStartAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			School      string `json:"school"`
			PersonID    string `json:"person_id"`
			LeavingDate string `json:"leaving_date"`
		}
		err := decodeBody(r, &b, "exit check-in", false)
		var e *inventory.Exit
		if err == nil {
			e, err = s.startExit(r, b.School, b.PersonID, b.LeavingDate)
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, toExitJSON(e))
	})
}

func (s *server) handleExitGetAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := s.visibleExit(r.Context(), r.PathValue("id"))
		if err == nil {
			_, err = s.noteResets(r.Context(), e)
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, toExitJSON(e))
	})
}

func (s *server) handleExitStepAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			DeviceID string `json:"device_id"`
			Step     string `json:"step"`
			Note     string `json:"note"`
		}
		err := decodeBody(r, &b, "step", false)
		var e *inventory.Exit
		if err == nil {
			e, err = s.exitStep(r, r.PathValue("id"), b.DeviceID, b.Step, b.Note)
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, toExitJSON(e))
	})
}

func (s *server) handleExitSignOffAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			As string `json:"as"`
		}
		err := decodeBody(r, &b, "sign-off", false)
		var e *inventory.Exit
		if err == nil {
			e, err = s.exitSignOff(r, r.PathValue("id"), b.As)
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, toExitJSON(e))
	})
}

// NoteResets records the factory resets that laptops on open check-ins
// show by enrolling again, for the sweep, and returns how many check-ins
// it changed.
func NoteResets(ctx context.Context, store inventory.Store, now time.Time) (int, error) {
	s := &server{store: store, now: func() time.Time { return now }}
	exits, err := store.FindExits(ctx, inventory.ExitFilter{Status: inventory.ExitOpen, Limit: inventory.MaxPageSize})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range exits {
		changed, err := s.noteResets(ctx, e)
		if inventory.ErrorCode(err) == inventory.ECONFLICT {
			continue // someone saved it meanwhile; the next sweep looks again
		} else if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}
