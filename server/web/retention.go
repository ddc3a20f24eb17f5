package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// Who may see and change how long records are kept.
var (
	// retentionReaders see a school's retention periods and its purges.
	retentionReaders = auditReaders
	// retentionEditors change them: deleting records is the school's
	// decision as data controller.
	retentionEditors = []inventory.Role{inventory.RoleHeadteacher}
)

// retentionRow is one kind of record on the retention page.
type retentionRow struct {
	Kind   inventory.RetentionKind
	Days   int // as the form shows it: saved, or being previewed
	Stored int // as saved
	Due    int // records older than Days now, which the next purge deletes
}

// Forever reports whether the row's period keeps records for ever.
func (r retentionRow) Forever() bool { return r.Days == 0 }

// retentionPage is the data of the retention page.
type retentionPage struct {
	Schools []*inventory.School
	School  *inventory.School
	Rows    []retentionRow
	CanEdit bool
	// Previewing says the rows show periods typed in, not saved.
	Previewing bool
	// retentionDue is what the next purge deletes under the periods
	// shown, and what of that saving them adds.
	retentionDue
	Anchor inventory.AuditAnchor
	Purges []*inventory.AuditEntry // the school's latest purges
	// Confirm asks to tick the box that agrees to the deletion of the
	// Extra records, for the periods in ConfirmFor.
	Confirm    bool
	ConfirmFor string
	Error      string
}

// retentionDue is what the next purge deletes under some periods (Due,
// DueAudit), and what of that a change to them adds to what it deletes
// under the periods in force (Extra, ExtraAudit).
type retentionDue struct {
	Due, Extra           inventory.RetentionCounts
	DueAudit, ExtraAudit int64
	// AuditDays is the audit period that would apply to the whole log,
	// the longest of every school's (0: for ever).
	AuditDays int
	Schoolful bool // more than one school shares the audit log
}

// What says in words what the change adds: "3 USB events, 12 audit
// entries".
func (d retentionDue) What() string {
	var what []string
	if d.Extra.Total() > 0 {
		what = append(what, d.Extra.String())
	}
	if d.ExtraAudit > 0 {
		what = append(what, strconv.FormatInt(d.ExtraAudit, 10)+" audit entries")
	}
	return strings.Join(what, ", ")
}

// ExtraTotal is how many records the change adds to the next purge.
func (d retentionDue) ExtraTotal() int64 { return int64(d.Extra.Total()) + d.ExtraAudit }

// retentionDue counts what the next purge would delete if the school's
// periods were saved as r: its own records, and the audit entries older
// than the period that would then apply to the whole server's log; and
// what of that is more than it deletes under the periods in force.
func (s *server) retentionDue(ctx context.Context, sc *inventory.School, r inventory.Retention) (retentionDue, error) {
	var d retentionDue
	now := s.now()
	cur, err := s.store.CountExpired(ctx, sc.ID, sc.RetentionCutoffs(now))
	if err != nil {
		return d, err
	}
	if d.Due, err = s.store.CountExpired(ctx, sc.ID, r.Cutoffs(now)); err != nil {
		return d, err
	}
	d.Extra = d.Due.Extra(cur)
	all, err := s.store.FindSchools(ctx)
	if err != nil {
		return d, err
	}
	next := make([]*inventory.School, len(all))
	for i, o := range all {
		next[i] = o
		if o.ID == sc.ID {
			saved := *o
			saved.Retention, saved.RetentionSet = r, true
			next[i] = &saved
		}
	}
	countAudit := func(schools []*inventory.School) (int64, error) {
		before := inventory.AuditCutoff(schools, now)
		if before.IsZero() {
			return 0, nil
		}
		return s.store.CountAuditBefore(ctx, before)
	}
	curAudit, err := countAudit(all)
	if err != nil {
		return d, err
	}
	if d.DueAudit, err = countAudit(next); err != nil {
		return d, err
	}
	d.ExtraAudit = max(0, d.DueAudit-curAudit)
	d.AuditDays, d.Schoolful = inventory.AuditDaysApplied(next), len(all) > 1
	return d, nil
}

// confirmKey names a set of periods, so that a confirmation given for
// the deletions of one set is not taken for another.
func confirmKey(r inventory.Retention) string {
	parts := make([]string, len(inventory.RetentionKinds))
	for i, k := range inventory.RetentionKinds {
		parts[i] = strconv.Itoa(k.Days(r))
	}
	return strings.Join(parts, ",")
}

// retentionPageFor fills the page of school sc showing the periods r.
func (s *server) retentionPageFor(ctx context.Context, schools []*inventory.School, sc *inventory.School, r inventory.Retention) (retentionPage, error) {
	p := retentionPage{Schools: schools, School: sc, CanEdit: viewerOf(ctx).holds(sc.ID, retentionEditors...), Previewing: r != sc.Retention}
	var err error
	if p.retentionDue, err = s.retentionDue(ctx, sc, r); err != nil {
		return p, err
	}
	for _, k := range inventory.RetentionKinds {
		row := retentionRow{Kind: k, Days: k.Days(r), Stored: k.Days(sc.Retention)}
		switch k.Name {
		case "usb_events":
			row.Due = p.Due.USBEvents
		case "posture_history":
			row.Due = p.Due.Posture
		case "pin_history":
			row.Due = p.Due.PINHistory
		case "audit_log":
			row.Due = int(p.DueAudit)
		case "loans":
			row.Due = p.Due.Loans
		}
		p.Rows = append(p.Rows, row)
	}
	if p.Anchor, err = s.store.FindAuditAnchor(ctx); err != nil {
		return p, err
	}
	p.Purges, err = s.store.FindAudit(ctx, inventory.AuditFilter{SchoolIDs: []uuid.UUID{sc.ID}, Action: inventory.AuditActionRetentionPurge, Limit: 5})
	return p, err
}

// retentionFromForm reads periods from form values, starting from base.
func retentionFromForm(v url.Values, base inventory.Retention) (inventory.Retention, error) {
	r := base
	for _, k := range inventory.RetentionKinds {
		text := strings.TrimSpace(v.Get(k.Name))
		n, err := strconv.Atoi(text)
		if err != nil {
			hint := ""
			if k.Forever {
				hint = ", or 0 to keep them for ever"
			}
			return r, inventory.Errorf(inventory.EINVALID, "%s: %q is not a number of days. Give a whole number%s.", k.Label, text, hint)
		}
		k.Set(&r, n)
	}
	return r, r.Validate()
}

func (s *server) handleRetentionPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		schools, err := s.schoolsFor(r, retentionReaders)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		q := r.URL.Query()
		sc, err := pickSchool(schools, q.Get("school"), "retention periods")
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		ret, status, msg := sc.Retention, http.StatusOK, ""
		if q.Get("preview") != "" {
			next, err := retentionFromForm(q, sc.Retention)
			if err != nil {
				status, msg = http.StatusBadRequest, inventory.ErrorMessage(err)
			} else {
				ret = next
			}
		}
		page, err := s.retentionPageFor(ctx, schools, sc, ret)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		page.Error = msg
		s.render(w, r, status, "retention.html", "How long records are kept", page)
	})
}

func (s *server) handleRetentionSave() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		sc, err := s.store.FindSchoolBySlug(ctx, r.PathValue("slug"))
		if err != nil || !viewerOf(ctx).holds(sc.ID, retentionReaders...) {
			s.pageError(w, r, inventory.Errorf(inventory.ENOTFOUND, "There is no school %q whose retention periods you may see.", r.PathValue("slug")))
			return
		}
		if !viewerOf(ctx).holds(sc.ID, retentionEditors...) {
			s.pageError(w, r, inventory.Errorf(inventory.EFORBIDDEN, "Changing how long %s keeps records needs the headteacher role there.", sc.Name))
			return
		}
		if err := r.ParseForm(); err != nil {
			s.pageError(w, r, inventory.Errorf(inventory.EINVALID, "The form could not be read."))
			return
		}
		next, err := retentionFromForm(r.PostForm, sc.Retention)
		if err == nil {
			// The box counts only when ticked for these very periods.
			confirmed := r.PostForm.Get("confirm") == "on" && r.PostForm.Get("confirm_for") == confirmKey(next)
			err = s.setRetention(r, sc, next, confirmed)
		}
		if code := inventory.ErrorCode(err); code == inventory.EINVALID || code == inventory.ECONFLICT {
			schools, ferr := s.schoolsFor(r, retentionReaders)
			if ferr != nil {
				s.pageError(w, r, ferr)
				return
			}
			// Shown as typed, so nothing typed is lost.
			page, perr := s.retentionPageFor(ctx, schools, sc, next)
			if perr != nil {
				s.pageError(w, r, perr)
				return
			}
			page.Error = inventory.ErrorMessage(err)
			if code == inventory.ECONFLICT {
				page.Confirm, page.ConfirmFor = true, confirmKey(next)
			}
			s.render(w, r, http.StatusBadRequest, "retention.html", "How long records are kept", page)
			return
		} else if err != nil {
			s.pageError(w, r, err)
			return
		}
		http.Redirect(w, r, "/retention?school="+url.QueryEscape(sc.Slug)+"&done=saved", http.StatusSeeOther)
	})
}

// setRetention stores a school's new periods and audits the change.
// When they would have the next purge delete records that the periods in
// force keep and confirmed is false, it stores nothing and returns
// ECONFLICT saying what would go.
func (s *server) setRetention(r *http.Request, sc *inventory.School, next inventory.Retention, confirmed bool) error {
	ctx := r.Context()
	if err := next.Validate(); err != nil {
		return err
	}
	detail := sc.Retention.Changes(next)
	if !sc.RetentionSet {
		detail = "periods set, so the purge starts: " + next.String()
	} else if detail == "" {
		return nil
	}
	d, err := s.retentionDue(ctx, sc, next)
	if err != nil {
		return err
	}
	if n := d.ExtraTotal(); n > 0 && !confirmed {
		return inventory.Errorf(inventory.ECONFLICT, "Saving these periods deletes %d more records, older than them, within 5 minutes: %s. Confirm the deletion to save them.", n, d.What())
	}
	if err := s.store.SetSchoolRetention(ctx, sc.ID, next); err != nil {
		return err
	}
	s.audit(r, inventory.AuditEntry{SchoolID: sc.ID, Action: "retention.change", Record: "school/" + sc.Slug, Detail: detail})
	s.logger.InfoContext(ctx, "retention periods changed", "school", sc.Slug, "by", viewerOf(ctx).user.Email)
	return nil
}

// retentionJSON is a school's retention as the REST API shows it.
type retentionJSON struct {
	School    string              `json:"school"`
	Retention inventory.Retention `json:"retention"`
	// InForce says the periods were saved, so the purge deletes by them;
	// until then it deletes only old PIN values.
	InForce   bool                      `json:"in_force"`
	Due       inventory.RetentionCounts `json:"due"`
	DueAudit  int64                     `json:"due_audit_entries"`
	AuditDays int                       `json:"audit_days_applied"`
}

// retentionPut is the body of PUT /api/v1/schools/{slug}/retention:
// periods left out keep their current values.
type retentionPut struct {
	inventory.Retention
	Confirm bool `json:"confirm"`
}

func (s *server) handleRetentionGetAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, ok := s.retentionSchoolAPI(w, r)
		if !ok {
			return
		}
		s.writeRetention(w, r, sc, sc.Retention)
	})
}

// handleRetentionPutAPI changes a school's periods. A change that makes
// the next purge delete records needs "confirm": true.
func (s *server) handleRetentionPutAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, ok := s.retentionSchoolAPI(w, r)
		if !ok {
			return
		}
		if !viewerOf(r.Context()).holds(sc.ID, retentionEditors...) {
			s.apiFail(w, r, inventory.Errorf(inventory.EFORBIDDEN, "changing how long %s keeps records needs the headteacher role there", sc.Slug))
			return
		}
		body := retentionPut{Retention: sc.Retention}
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			s.apiFail(w, r, inventory.Errorf(inventory.EINVALID, "retention: %s", describeJSONError(err)))
			return
		}
		if err := s.setRetention(r, sc, body.Retention, body.Confirm); err != nil {
			s.apiFail(w, r, err)
			return
		}
		sc, err := s.store.FindSchoolByID(r.Context(), sc.ID)
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		s.writeRetention(w, r, sc, sc.Retention)
	})
}

// retentionSchoolAPI finds the school in the path that the token's owner
// may see the retention of, or answers 404.
func (s *server) retentionSchoolAPI(w http.ResponseWriter, r *http.Request) (*inventory.School, bool) {
	sc, err := s.store.FindSchoolBySlug(r.Context(), r.PathValue("slug"))
	if err != nil || !viewerOf(r.Context()).holds(sc.ID, retentionReaders...) {
		s.apiFail(w, r, inventory.Errorf(inventory.ENOTFOUND, "school %q not found", r.PathValue("slug")))
		return nil, false
	}
	return sc, true
}

// writeRetention answers with the school's periods ret and what the
// next purge deletes under them once they are in force.
func (s *server) writeRetention(w http.ResponseWriter, r *http.Request, sc *inventory.School, ret inventory.Retention) {
	d, err := s.retentionDue(r.Context(), sc, ret)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, retentionJSON{School: sc.Slug, Retention: ret, InForce: sc.RetentionSet, Due: d.Due, DueAudit: d.DueAudit, AuditDays: d.AuditDays})
}
