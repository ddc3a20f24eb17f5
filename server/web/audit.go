package web

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// audit appends e to the audit log as done by the request's viewer, from
// the request's address. A failure to write it is logged: the action it
// records has already happened.
func (s *server) audit(r *http.Request, e inventory.AuditEntry) {
	s.auditAs(r, viewerOf(r.Context()).user, e)
}

// auditAs appends e as done by u (nil: e.Actor names who). An entry
// that names no school is filed under the person's school when they hold
// roles in just one, so that school's auditors see it; otherwise only
// organisation admins do.
func (s *server) auditAs(r *http.Request, u *inventory.User, e inventory.AuditEntry) {
	if u != nil {
		e.ActorID, e.Actor = u.ID, u.Email
		if e.SchoolID == uuid.Nil {
			e.SchoolID = s.onlySchool(r, u)
		}
	}
	e.Addr = s.remoteAddr(r)
	e.At = s.now()
	e.Fit()
	if err := s.store.AppendAudit(r.Context(), &e); err != nil {
		s.logger.ErrorContext(r.Context(), "write audit entry", "action", e.Action, "err", err)
	}
}

// onlySchool returns the one school where u holds roles, or uuid.Nil.
func (s *server) onlySchool(r *http.Request, u *inventory.User) uuid.UUID {
	grants, err := s.store.FindRoleGrants(r.Context(), u.ID)
	if err != nil || len(grants) == 0 {
		return uuid.Nil
	}
	id := grants[0].SchoolID
	for _, g := range grants {
		if g.SchoolID != id || g.Role == inventory.RoleOrgAdmin {
			return uuid.Nil
		}
	}
	return id
}

// auditJSON is an audit entry as the REST API shows it.
type auditJSON struct {
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
	ActorID  string    `json:"actor_id,omitempty"`
	Actor    string    `json:"actor"`
	SchoolID string    `json:"school_id,omitempty"`
	Action   string    `json:"action"`
	Record   string    `json:"record"`
	Addr     string    `json:"addr"`
	Detail   string    `json:"detail"`
	Hash     string    `json:"hash"`
}

// auditFilter reads the audit log's filters from the query: actor (email),
// school (slug), action (prefix), since and until (dates or RFC 3339
// times), before (a cursor).
func (s *server) auditFilter(r *http.Request) (inventory.AuditFilter, error) {
	v := viewerOf(r.Context())
	q := r.URL.Query()
	f := inventory.AuditFilter{SchoolIDs: v.schoolsWith(auditReaders...), Action: q.Get("action")}
	if slug := q.Get("school"); slug != "" {
		sc, err := s.store.FindSchoolBySlug(r.Context(), slug)
		if err != nil || (f.SchoolIDs != nil && !slices.Contains(f.SchoolIDs, sc.ID)) {
			return f, inventory.Errorf(inventory.EINVALID, "school: no school %q that you may see", slug)
		}
		f.SchoolIDs = []uuid.UUID{sc.ID}
	}
	if email := q.Get("actor"); email != "" {
		e, err := inventory.NormalizeEmail(email)
		if err != nil {
			return f, inventory.Errorf(inventory.EINVALID, "actor: %q is not an email address", email)
		}
		u, err := s.store.FindUserByEmail(r.Context(), e)
		if inventory.ErrorCode(err) == inventory.ENOTFOUND {
			f.ActorID = uuid.Max // nobody: an empty result, not an error
		} else if err != nil {
			return f, err
		} else {
			f.ActorID = u.ID
		}
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
		day  time.Duration
	}{{"since", &f.Since, 0}, {"until", &f.Until, 24 * time.Hour}} {
		if str := q.Get(b.name); str != "" {
			t, err := parseWhen(str)
			if err != nil {
				return f, inventory.Errorf(inventory.EINVALID, "%s: %q is not a date (2026-11-30) or a time (2026-11-30T09:00:00Z)", b.name, str)
			}
			if len(str) == len("2006-01-02") {
				t = t.Add(b.day) // until a day means to its end
			}
			*b.dst = t
		}
	}
	if str := q.Get("before"); str != "" {
		n, err := strconv.ParseInt(str, 10, 64)
		if err != nil || n < 1 {
			return f, inventory.Errorf(inventory.EINVALID, "before: %q is not a cursor from a previous page", str)
		}
		f.Before = n
	}
	var err error
	f.Limit, err = parseLimit(q)
	return f, err
}

// parseLimit reads ?limit=: zero when absent, else 1 to MaxPageSize.
func parseLimit(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > inventory.MaxPageSize {
		return 0, inventory.Errorf(inventory.EINVALID, "limit: give a number from 1 to %d", inventory.MaxPageSize)
	}
	return n, nil
}

// parseWhen reads a date or an RFC 3339 time.
func parseWhen(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

func toAuditJSON(e *inventory.AuditEntry) auditJSON {
	j := auditJSON{Seq: e.Seq, At: e.At, Actor: e.Actor, Action: e.Action, Record: e.Record, Addr: e.Addr, Detail: e.Detail, Hash: hex.EncodeToString(e.Hash)}
	if e.ActorID != uuid.Nil {
		j.ActorID = e.ActorID.String()
	}
	if e.SchoolID != uuid.Nil {
		j.SchoolID = e.SchoolID.String()
	}
	return j
}

func (s *server) handleAuditAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !viewerOf(r.Context()).mayAnywhere(auditReaders...) {
			writeError(w, r, s.logger, inventory.Errorf(inventory.EFORBIDDEN, "reading the audit log needs the technician, headteacher or auditor role"))
			return
		}
		f, err := s.auditFilter(r)
		if err != nil {
			writeError(w, r, s.logger, err)
			return
		}
		entries, err := s.store.FindAudit(r.Context(), f)
		if err != nil {
			writeError(w, r, s.logger, err)
			return
		}
		out := listJSON[auditJSON]{Items: make([]auditJSON, 0, len(entries))}
		for _, e := range entries {
			out.Items = append(out.Items, toAuditJSON(e))
		}
		if len(entries) == (inventory.DeviceFilter{Limit: f.Limit}).PageLimit() {
			out.Next = strconv.FormatInt(entries[len(entries)-1].Seq, 10)
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// auditPage is the data of the audit log page.
type auditPage struct {
	Entries []*inventory.AuditEntry
	Query   map[string]string
	Next    string
	Error   string
	Schools []*inventory.School
}

func (s *server) handleAuditPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		page := auditPage{Query: map[string]string{}}
		for _, k := range []string{"actor", "school", "action", "since", "until"} {
			page.Query[k] = q.Get(k)
		}
		schools, err := s.schoolsFor(r, auditReaders)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		page.Schools = schools
		f, err := s.auditFilter(r)
		if err != nil {
			page.Error = inventory.ErrorMessage(err)
			s.render(w, r, http.StatusBadRequest, "audit.html", "Audit log", page)
			return
		}
		if page.Entries, err = s.store.FindAudit(r.Context(), f); err != nil {
			s.pageError(w, r, err)
			return
		}
		if len(page.Entries) == f.PageLimit() {
			next := r.URL.Query()
			next.Set("before", strconv.FormatInt(page.Entries[len(page.Entries)-1].Seq, 10))
			page.Next = next.Encode()
		}
		s.render(w, r, http.StatusOK, "audit.html", "Audit log", page)
	})
}
