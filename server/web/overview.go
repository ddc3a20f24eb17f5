package web

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// unseenDays is the overview's "not seen lately" window.
const unseenDays = 7

// chartDays is how many days the compliance chart covers.
const chartDays = 30

// schoolsFor returns the schools where the viewer holds one of roles,
// ordered by slug.
func (s *server) schoolsFor(r *http.Request, roles []inventory.Role) ([]*inventory.School, error) {
	all, err := s.store.FindSchools(r.Context())
	if err != nil {
		return nil, err
	}
	ids := viewerOf(r.Context()).schoolsWith(roles...)
	if ids == nil {
		return all, nil
	}
	out := []*inventory.School{}
	for _, sc := range all {
		if slices.Contains(ids, sc.ID) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// ruleTile is one compliance rule's tile on the overview.
type ruleTile struct {
	Rule    string
	Failing int
}

// overviewPage is the data of the fleet overview.
type overviewPage struct {
	Counts     inventory.DeviceCounts
	UnseenDays int
	Tiles      []ruleTile
	Chart      chart
	Schools    []*inventory.School
	// Leavers are the open exit check-ins, the soonest leaving first.
	Leavers []exitRow
}

// homePage is the data of the home page of someone who does not look
// after the fleet.
type homePage struct {
	Roles    []string
	Loans    []loanRow
	SignOuts []signOutRow
	Exits    []exitRow // the viewer's own open exit check-in
}

func (s *server) handleHome() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := viewerOf(r.Context())
		if !v.mayAnywhere(fleetReaders...) {
			page := homePage{}
			for _, g := range v.grants {
				page.Roles = append(page.Roles, string(g.Role))
			}
			if err := s.homeLoans(r, &page); err != nil {
				s.pageError(w, r, err)
				return
			}
			s.render(w, r, http.StatusOK, "home.html", "Home", page)
			return
		}
		page, err := s.overview(r.Context(), v.schoolsWith(fleetReaders...))
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		if page.Schools, err = s.schoolsFor(r, fleetReaders); err != nil {
			s.pageError(w, r, err)
			return
		}
		if ids := v.schoolsWith(exitReaders...); ids == nil || len(ids) > 0 {
			exits, err := s.store.FindExits(r.Context(), inventory.ExitFilter{SchoolIDs: ids, Status: inventory.ExitOpen, Limit: 50})
			if err != nil {
				s.pageError(w, r, err)
				return
			}
			page.Leavers = s.exitRows(r.Context(), exits)
			slices.SortFunc(page.Leavers, func(a, b exitRow) int { return a.DaysLeft - b.DaysLeft })
		}
		s.render(w, r, http.StatusOK, "overview.html", "Fleet overview", page)
	})
}

// homeLoans fills in what the viewer holds: open loans and kit signed out.
func (s *server) homeLoans(r *http.Request, page *homePage) error {
	ctx := r.Context()
	v := viewerOf(ctx)
	n := s.names(ctx)
	loans, err := s.store.FindLoans(ctx, inventory.LoanFilter{BorrowerID: v.user.ID, Statuses: inventory.OpenLoanStatuses, Limit: 50})
	if err != nil {
		return err
	}
	if page.Loans, err = s.loanRows(ctx, n, loans); err != nil {
		return err
	}
	outs, err := s.store.FindSignOuts(ctx, inventory.SignOutFilter{UserID: v.user.ID, OnlyOut: true, Limit: 50})
	if err != nil {
		return err
	}
	page.SignOuts = s.signOutRows(n, outs, nil)
	exits, err := s.store.FindExits(ctx, inventory.ExitFilter{PersonID: v.user.ID, Status: inventory.ExitOpen, Limit: 10})
	if err != nil {
		return err
	}
	page.Exits = s.exitRows(ctx, exits)
	return nil
}

// overview gathers the overview's figures for the given schools (nil:
// every school).
func (s *server) overview(ctx context.Context, schools []uuid.UUID) (overviewPage, error) {
	now := s.now()
	page := overviewPage{UnseenDays: unseenDays}
	var err error
	page.Counts, err = s.store.CountDevices(ctx, inventory.DeviceFilter{SchoolIDs: schools}, now.AddDate(0, 0, -unseenDays))
	if err != nil {
		return page, err
	}
	for _, rule := range inventory.Rules {
		page.Tiles = append(page.Tiles, ruleTile{Rule: rule, Failing: page.Counts.Failing[rule]})
	}
	since := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(chartDays - 1))
	days, err := s.store.FindComplianceDays(ctx, schools, since)
	if err != nil {
		return page, err
	}
	page.Chart = complianceChart(days, since, chartDays)
	return page, nil
}
