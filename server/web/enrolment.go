package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// tokenRow is one enrolment token on the enrolment page.
type tokenRow struct {
	Token  *inventory.EnrollToken
	School string
	State  string // active, expired, revoked or used up
}

// enrolmentPage is the data of the enrolment page.
type enrolmentPage struct {
	Schools  []*inventory.School
	Tokens   []tokenRow
	NewToken string // shown once, just after it was made
	Error    string
	Uses     string
	TTL      string
	School   string
	TTLs     []ttlChoice
	Disabled bool // the server cannot make tokens here
}

// ttlChoice is one "valid for" option.
type ttlChoice struct {
	Value, Text string
}

var ttlChoices = []ttlChoice{{"24h", "1 day"}, {"168h", "7 days"}, {"720h", "30 days"}}

func tokenState(t *inventory.EnrollToken, now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	case t.Uses >= t.MaxUses:
		return "used up"
	}
	return "active"
}

func (s *server) enrolmentPage(r *http.Request, page *enrolmentPage) error {
	schools, err := s.schoolsFor(r, deviceManagers)
	if err != nil {
		return err
	}
	page.Schools, page.TTLs, page.Disabled = schools, ttlChoices, s.enroll == nil
	names := map[uuid.UUID]string{}
	ids := make([]uuid.UUID, 0, len(schools))
	for _, sc := range schools {
		names[sc.ID] = sc.Name
		ids = append(ids, sc.ID)
	}
	tokens, err := s.store.FindEnrollTokens(r.Context(), ids, 50)
	if err != nil {
		return err
	}
	now := s.now()
	for _, t := range tokens {
		page.Tokens = append(page.Tokens, tokenRow{Token: t, School: names[t.SchoolID], State: tokenState(t, now)})
	}
	return nil
}

func (s *server) handleEnrolmentPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := enrolmentPage{Uses: "30", TTL: "168h"}
		if err := s.enrolmentPage(r, &page); err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "enrolment.html", "Enrol laptops", page)
	})
}

// handleEnrolmentCreate makes a token and shows it, with the commands that
// use it, once.
func (s *server) handleEnrolmentCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		page := enrolmentPage{Uses: r.PostFormValue("uses"), TTL: r.PostFormValue("ttl"), School: r.PostFormValue("school")}
		fail := func(err error) {
			page.Error = inventory.ErrorMessage(err)
			if err := s.enrolmentPage(r, &page); err != nil {
				s.pageError(w, r, err)
				return
			}
			s.render(w, r, http.StatusBadRequest, "enrolment.html", "Enrol laptops", page)
		}
		if s.enroll == nil {
			fail(inventory.Errorf(inventory.EINVALID, "This server cannot make enrolment tokens from the page; use `rollcall enroll-token create`."))
			return
		}
		uses, err := strconv.Atoi(page.Uses)
		if err != nil || uses < 1 || uses > 100000 {
			fail(inventory.Errorf(inventory.EINVALID, "How many laptops: give a number from 1 to 100000."))
			return
		}
		ttl, err := time.ParseDuration(page.TTL)
		if err != nil {
			fail(inventory.Errorf(inventory.EINVALID, "Valid for: choose one of the options."))
			return
		}
		sc, err := s.store.FindSchoolBySlug(ctx, page.School)
		if err != nil || !viewerOf(ctx).holds(sc.ID, deviceManagers...) {
			fail(inventory.Errorf(inventory.EINVALID, "School: choose a school where you are a technician."))
			return
		}
		tok, err := s.enroll(ctx, sc.Slug, uses, ttl)
		if err != nil {
			fail(err)
			return
		}
		s.audit(r, inventory.AuditEntry{SchoolID: sc.ID, Action: "enroll_token.create", Record: "school/" + sc.Slug, Detail: "enrolment token for " + strconv.Itoa(uses) + " laptops, valid " + ttl.String()})
		page.NewToken = tok
		if err := s.enrolmentPage(r, &page); err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "enrolment.html", "Enrol laptops", page)
	})
}

func (s *server) handleEnrolmentRevoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		notFound := inventory.Errorf(inventory.ENOTFOUND, "There is no enrolment token %s that you may revoke.", r.PathValue("id"))
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			s.pageError(w, r, notFound)
			return
		}
		t, err := s.store.FindEnrollTokenByID(ctx, id)
		if inventory.ErrorCode(err) == inventory.ENOTFOUND || err == nil && !viewerOf(ctx).holds(t.SchoolID, deviceManagers...) {
			err = notFound
		}
		if err == nil {
			err = s.store.RevokeEnrollToken(ctx, id, s.now())
		}
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.audit(r, inventory.AuditEntry{SchoolID: t.SchoolID, Action: "enroll_token.revoke", Record: "enroll_token/" + id.String()})
		http.Redirect(w, r, "/enrolment?done=token-revoked", http.StatusSeeOther)
	})
}
