package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// policyPage is the data of the policy page.
type policyPage struct {
	Schools []*inventory.School
	School  *inventory.School
	Policy  inventory.Policy // as shown in the form: stored, or being previewed
	CanEdit bool
	Preview *policyPreview
	Error   string
}

// policyPreview says what a change would do to a school's devices.
type policyPreview struct {
	Devices    int
	Now, After statusCounts
	Changed    int
}

// statusCounts counts devices by status.
type statusCounts struct{ Compliant, Noncompliant, Unknown int }

func (c *statusCounts) add(status string) {
	switch status {
	case inventory.StatusCompliant:
		c.Compliant++
	case inventory.StatusNoncompliant:
		c.Noncompliant++
	default:
		c.Unknown++
	}
}

// policyFromForm reads a policy from form values, starting from base:
// checkboxes are on when present.
func policyFromForm(v url.Values, base inventory.Policy) (inventory.Policy, error) {
	p := base
	p.RequireEncryption = v.Get("require_encryption") == "on"
	p.RequireAntivirus = v.Get("require_antivirus") == "on"
	p.RequireScreenLock = v.Get("require_screen_lock") == "on"
	p.RequirePasswordOnWake = v.Get("require_password_on_wake") == "on"
	p.FlagMassStorage = v.Get("flag_mass_storage") == "on"
	for _, f := range []struct {
		name, label string
		dst         *int
	}{
		{"max_signature_age_days", "Oldest antivirus definitions", &p.MaxSignatureAgeDays},
		{"max_idle_lock_minutes", "Longest idle time before the screen locks", &p.MaxIdleLockMinutes},
		{"max_days_unseen", "Days a laptop may go unseen", &p.MaxDaysUnseen},
	} {
		n, err := strconv.Atoi(v.Get(f.name))
		if err != nil {
			return p, inventory.Errorf(inventory.EINVALID, "%s: give a whole number.", f.label)
		}
		*f.dst = n
	}
	return p, p.Validate()
}

// previewPolicy judges every device of the school under both policies.
func (s *server) previewPolicy(ctx context.Context, sc *inventory.School, next inventory.Policy) (*policyPreview, error) {
	pv := &policyPreview{}
	now := s.now()
	f := inventory.DeviceFilter{SchoolIDs: []uuid.UUID{sc.ID}, Limit: inventory.MaxPageSize}
	for {
		devices, err := s.store.FindDevices(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, d := range devices {
			p, err := latestPosture(ctx, s.store, d.ID)
			if err != nil {
				return nil, err
			}
			before := inventory.Judge(sc.Policy, p, d.LastSeenAt, now).Status
			after := inventory.Judge(next, p, d.LastSeenAt, now).Status
			pv.Devices++
			pv.Now.add(before)
			pv.After.add(after)
			if before != after {
				pv.Changed++
			}
		}
		if len(devices) < f.PageLimit() {
			return pv, nil
		}
		f.After = devices[len(devices)-1].ID
	}
}

// pickSchool finds the school of ?school= (or the first the viewer may
// see) among the schools given; what names what the page shows of it, as
// in "There is no school whose policy you may see."
func pickSchool(schools []*inventory.School, slug, what string) (*inventory.School, error) {
	for _, sc := range schools {
		if slug == "" || sc.Slug == slug {
			return sc, nil
		}
	}
	if slug == "" {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "There is no school whose %s you may see.", what)
	}
	return nil, inventory.Errorf(inventory.ENOTFOUND, "There is no school %q whose %s you may see.", slug, what)
}

func (s *server) handlePolicyPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		schools, err := s.schoolsFor(r, fleetReaders)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		q := r.URL.Query()
		sc, err := pickSchool(schools, q.Get("school"), "policy")
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		page := policyPage{Schools: schools, School: sc, Policy: sc.Policy, CanEdit: viewerOf(ctx).holds(sc.ID, policyEditors...)}
		status := http.StatusOK
		if q.Get("preview") != "" {
			p, err := policyFromForm(q, sc.Policy)
			page.Policy = p
			if err == nil {
				page.Preview, err = s.previewPolicy(ctx, sc, p)
			}
			if err != nil {
				if inventory.ErrorCode(err) != inventory.EINVALID {
					s.pageError(w, r, err)
					return
				}
				page.Error, status = inventory.ErrorMessage(err), http.StatusBadRequest
			}
		}
		s.render(w, r, status, "policy.html", "Compliance policy", page)
	})
}

func (s *server) handlePolicySave() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		sc, err := s.store.FindSchoolBySlug(ctx, r.PathValue("slug"))
		if err != nil || !viewerOf(ctx).canSeeFleet(sc.ID) {
			s.pageError(w, r, inventory.Errorf(inventory.ENOTFOUND, "There is no school %q whose policy you may see.", r.PathValue("slug")))
			return
		}
		if !viewerOf(ctx).holds(sc.ID, policyEditors...) {
			s.pageError(w, r, inventory.Errorf(inventory.EFORBIDDEN, "Changing %s's policy needs the technician or headteacher role there.", sc.Name))
			return
		}
		if err := r.ParseForm(); err != nil {
			s.pageError(w, r, inventory.Errorf(inventory.EINVALID, "The form could not be read."))
			return
		}
		p, err := policyFromForm(r.PostForm, sc.Policy)
		if err == nil {
			err = s.setPolicy(r, sc, p)
		}
		if inventory.ErrorCode(err) == inventory.EINVALID {
			schools, ferr := s.schoolsFor(r, fleetReaders)
			if ferr != nil {
				s.pageError(w, r, ferr)
				return
			}
			s.render(w, r, http.StatusBadRequest, "policy.html", "Compliance policy", policyPage{Schools: schools, School: sc, Policy: p, CanEdit: true, Error: inventory.ErrorMessage(err)})
			return
		} else if err != nil {
			s.pageError(w, r, err)
			return
		}
		http.Redirect(w, r, "/policy?school="+url.QueryEscape(sc.Slug)+"&done=saved", http.StatusSeeOther)
	})
}
