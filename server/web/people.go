package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/secret"
)

// peopleManagers may invite, disable and grant roles to people in their
// schools.
var peopleManagers = []inventory.Role{inventory.RoleTechnician, inventory.RoleHeadteacher}

// inviteTTL is how long an invitation link works.
const inviteTTL = 7 * 24 * time.Hour

// minPasswordLen is the shortest password a person may choose.
const minPasswordLen = 12

// personRow is one person on the people page.
type personRow struct {
	User   *inventory.User
	Grants []grantRow
	Self   bool
}

// grantRow is one role of a person, as the viewer may see it.
type grantRow struct {
	Role, School, Slug string
	CanRevoke          bool
}

// peoplePage is the data of the people page.
type peoplePage struct {
	People    []personRow
	Invites   []*inventory.Invite
	Schools   []*inventory.School
	SchoolOf  map[uuid.UUID]string
	Roles     []inventory.Role
	InviteURL string // shown once, just after the invitation was made
	Reset     *resetNotice
	Error     string
	Form      url.Values
}

func (s *server) peoplePage(r *http.Request, page *peoplePage) error {
	ctx := r.Context()
	v := viewerOf(ctx)
	schools, err := s.schoolsFor(r, peopleManagers)
	if err != nil {
		return err
	}
	page.Schools, page.SchoolOf = schools, map[uuid.UUID]string{}
	for _, sc := range schools {
		page.SchoolOf[sc.ID] = sc.Name
	}
	page.Roles = inventory.Roles
	if v.schoolsWith(peopleManagers...) != nil {
		page.Roles = inventory.Roles[1:] // only an organisation admin makes another
	}
	filter := inventory.UserFilter{SchoolIDs: v.schoolsWith(peopleManagers...)}
	users, err := s.store.FindUsers(ctx, filter)
	if err != nil {
		return err
	}
	for _, u := range users {
		grants, err := s.store.FindRoleGrants(ctx, u.ID)
		if err != nil {
			return err
		}
		row := personRow{User: u, Self: u.ID == v.user.ID}
		for _, g := range grants {
			switch {
			case g.Role == inventory.RoleOrgAdmin:
				row.Grants = append(row.Grants, grantRow{Role: string(g.Role), School: "every school", CanRevoke: v.schoolsWith() == nil && !row.Self})
			case page.SchoolOf[g.SchoolID] != "":
				sc := schools[slices.IndexFunc(schools, func(s *inventory.School) bool { return s.ID == g.SchoolID })]
				row.Grants = append(row.Grants, grantRow{Role: string(g.Role), School: sc.Name, Slug: sc.Slug, CanRevoke: !row.Self})
			}
		}
		page.People = append(page.People, row)
	}
	page.Invites, err = s.store.FindInvites(ctx, filter.SchoolIDs, s.now())
	return err
}

func (s *server) handlePeoplePage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := peoplePage{Form: url.Values{}}
		if err := s.peoplePage(r, &page); err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "people.html", "People", page)
	})
}

// grantFromForm reads a school and role the viewer may grant.
func (s *server) grantFromForm(r *http.Request) (inventory.RoleGrant, error) {
	v := viewerOf(r.Context())
	role, err := inventory.ParseRole(r.PostFormValue("role"))
	if err != nil {
		return inventory.RoleGrant{}, err
	}
	g := inventory.RoleGrant{Role: role}
	if role == inventory.RoleOrgAdmin {
		if v.schoolsWith() != nil {
			return g, inventory.Errorf(inventory.EFORBIDDEN, "Only an organisation admin can make another.")
		}
		return g, nil
	}
	sc, err := s.store.FindSchoolBySlug(r.Context(), r.PostFormValue("school"))
	if err != nil || !v.holds(sc.ID, peopleManagers...) {
		return g, inventory.Errorf(inventory.EINVALID, "School: choose a school where you manage people.")
	}
	g.SchoolID = sc.ID
	return g, nil
}

// handleInvite makes a one-time invitation link and shows it once.
func (s *server) handleInvite() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		page := peoplePage{Form: url.Values{"email": {r.PostFormValue("email")}, "name": {r.PostFormValue("name")}, "role": {r.PostFormValue("role")}, "school": {r.PostFormValue("school")}}}
		g, err := s.grantFromForm(r)
		var inv *inventory.Invite
		var token string
		if err == nil {
			var hash []byte
			token, hash = secret.NewToken("")
			inv = &inventory.Invite{Hash: hash, Email: strings.TrimSpace(r.PostFormValue("email")), Name: strings.TrimSpace(r.PostFormValue("name")),
				SchoolID: g.SchoolID, Role: g.Role, CreatedBy: viewerOf(ctx).user.ID, ExpiresAt: s.now().Add(inviteTTL)}
			if inv.Email, err = inventory.NormalizeEmail(inv.Email); err == nil {
				err = s.store.CreateInvite(ctx, inv)
			}
		}
		status := http.StatusOK
		if err != nil {
			page.Error, status = inventory.ErrorMessage(err), http.StatusBadRequest
			if st := statusOf[inventory.ErrorCode(err)]; st == http.StatusInternalServerError || st == 0 {
				s.pageError(w, r, err)
				return
			}
		} else {
			s.audit(r, inventory.AuditEntry{SchoolID: g.SchoolID, Action: "user.invite", Record: "invite/" + inv.ID.String(), Detail: "invited " + inv.Email + " as " + string(g.Role)})
			page.InviteURL = baseURL(r) + "/invite/" + token
			page.Form = url.Values{}
		}
		if err := s.peoplePage(r, &page); err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, status, "people.html", "People", page)
	})
}

// baseURL returns the scheme and host the browser used to reach us.
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil && r.Header.Get("X-Forwarded-Proto") != "https" && isLoopback(r) {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

// managedPerson finds the person in the path, who must not be the
// viewer and must hold a role in a school the viewer manages people in
// (an organisation admin manages everyone but other organisation admins'
// grants are theirs alone). With whole, which a change to the whole
// account needs (disable, reset), every school the person holds a role in
// must be one the viewer manages: a headteacher cannot lock a technician
// out of the other schools they serve.
func (s *server) managedPerson(r *http.Request, whole bool) (*inventory.User, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	notFound := inventory.Errorf(inventory.ENOTFOUND, "There is no person %s whom you manage.", r.PathValue("id"))
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return nil, notFound
	}
	u, err := s.store.FindUserByID(ctx, id)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND {
		return nil, notFound
	} else if err != nil {
		return nil, err
	}
	if u.ID == v.user.ID {
		return nil, inventory.Errorf(inventory.EINVALID, "You cannot change your own access; ask another manager.")
	}
	managed := v.schoolsWith(peopleManagers...)
	if managed == nil {
		return u, nil
	}
	grants, err := s.store.FindRoleGrants(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	mine, others := 0, 0
	for _, g := range grants {
		switch {
		case g.Role == inventory.RoleOrgAdmin:
			return nil, inventory.Errorf(inventory.EFORBIDDEN, "Only an organisation admin can change another organisation admin.")
		case slices.Contains(managed, g.SchoolID):
			mine++
		default:
			others++
		}
	}
	switch {
	case mine == 0:
		return nil, notFound
	case whole && others > 0:
		return nil, inventory.Errorf(inventory.EFORBIDDEN, "%s also has roles in schools you do not manage, so only an organisation admin can change their whole account. You can remove their roles at your school.", u.Name)
	}
	return u, nil
}

// handleSetDisabled disables (or enables again) a person: a disabled
// person cannot sign in, and their sessions and API tokens stop working.
func (s *server) handleSetDisabled(disable bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.managedPerson(r, true)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		at, action, done := time.Time{}, "user.enable", "enabled"
		if disable {
			at, action, done = s.now(), "user.disable", "disabled"
		}
		if err := s.store.SetUserDisabled(r.Context(), u.ID, at); err != nil {
			s.pageError(w, r, err)
			return
		}
		s.audit(r, inventory.AuditEntry{SchoolID: s.onlySchool(r, u), Action: action, Record: "user/" + u.ID.String(), Detail: u.Email + " " + done})
		http.Redirect(w, r, "/people?done="+done, http.StatusSeeOther)
	})
}

// handleResetSignIn gives a person a new password, shown once to the
// manager, and has them set up two-step sign-in again.
func (s *server) handleResetSignIn() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.managedPerson(r, true)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		_, password, err := admin.ResetSignIn(r.Context(), s.store, u.Email)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.audit(r, inventory.AuditEntry{SchoolID: s.onlySchool(r, u), Action: "user.reset_signin", Record: "user/" + u.ID.String(), Detail: "new password; two-step sign-in to be set up again for " + u.Email})
		page := peoplePage{Form: url.Values{}, Reset: &resetNotice{Name: u.Name, Email: u.Email, Password: password}}
		if err := s.peoplePage(r, &page); err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "people.html", "People", page)
	})
}

// resetNotice is the new password of a person just reset, shown once.
type resetNotice struct{ Name, Email, Password string }

// handleRole grants or revokes one role of a person.
func (s *server) handleRole(grant bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.managedPerson(r, false)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		g, err := s.grantFromForm(r)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		g.UserID = u.ID
		action, done := "user.role_revoke", "role-revoked"
		if grant {
			action, done = "user.role_grant", "role-granted"
			err = s.store.GrantRole(r.Context(), g)
		} else {
			err = s.revokeRole(r, u, g)
		}
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.audit(r, inventory.AuditEntry{SchoolID: g.SchoolID, Action: action, Record: "user/" + u.ID.String(), Detail: u.Email + ": " + string(g.Role)})
		http.Redirect(w, r, "/people?done="+done, http.StatusSeeOther)
	})
}

// revokeRole removes g, refusing to remove a person's last role: they
// would drop off the people page while still able to sign in.
func (s *server) revokeRole(r *http.Request, u *inventory.User, g inventory.RoleGrant) error {
	grants, err := s.store.FindRoleGrants(r.Context(), u.ID)
	if err != nil {
		return err
	}
	if len(grants) == 1 && grants[0] == g {
		return inventory.Errorf(inventory.EINVALID, "That is %s's only role. To stop them signing in, disable their account instead.", u.Name)
	}
	return s.store.RevokeRole(r.Context(), g)
}

// invitePage is the data of the page an invited person opens.
type invitePage struct {
	Invite   *inventory.Invite
	School   string
	Token    string
	Error    string
	Existing bool // the email has an account already, which keeps its password
}

// findInvite finds the invitation of the token in the path, refusing one
// used or expired.
func (s *server) findInvite(r *http.Request) (*inventory.Invite, error) {
	inv, err := s.store.FindInviteByHash(r.Context(), secret.HashToken(r.PathValue("token")))
	switch {
	case inventory.ErrorCode(err) == inventory.ENOTFOUND:
		return nil, inventory.Errorf(inventory.ENOTFOUND, "This invitation link is not known. Check you copied all of it, or ask for a new one.")
	case err != nil:
		return nil, err
	case !inv.AcceptedAt.IsZero():
		return nil, inventory.Errorf(inventory.ECONFLICT, "This invitation was used on %s. Sign in instead.", when(inv.AcceptedAt))
	case !s.now().Before(inv.ExpiresAt):
		return nil, inventory.Errorf(inventory.EEXPIRED, "This invitation expired on %s. Ask for a new one.", when(inv.ExpiresAt))
	}
	return inv, nil
}

func (s *server) invitePage(w http.ResponseWriter, r *http.Request, status int, inv *inventory.Invite, errText string) {
	school := "every school"
	if inv.SchoolID != uuid.Nil {
		if sc, err := s.store.FindSchoolByID(r.Context(), inv.SchoolID); err == nil {
			school = sc.Name
		}
	}
	_, err := s.store.FindUserByEmail(r.Context(), inv.Email)
	s.render(w, r, status, "invite.html", "Welcome to Rollcall", invitePage{Invite: inv, School: school, Token: r.PathValue("token"), Error: errText, Existing: err == nil})
}

func (s *server) handleInviteForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inv, err := s.findInvite(r)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.invitePage(w, r, http.StatusOK, inv, "")
	})
}

// handleInviteAccept sets the invited person's password and role, then
// sends them to sign in.
func (s *server) handleInviteAccept() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inv, err := s.findInvite(r)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		existing, err := s.store.FindUserByEmail(r.Context(), inv.Email)
		if err != nil && inventory.ErrorCode(err) != inventory.ENOTFOUND {
			s.pageError(w, r, err)
			return
		}
		if existing != nil && existing.Disabled() {
			s.invitePage(w, r, http.StatusForbidden, inv, "The account for "+inv.Email+" is disabled. Ask whoever invited you to enable it first.")
			return
		}
		pw := r.PostFormValue("password")
		if existing != nil {
			pw = secret.NewPassword() // not stored: the account keeps its own
		}
		switch {
		case existing != nil:
		case len(pw) > 72:
			s.invitePage(w, r, http.StatusBadRequest, inv, "That password is too long: use at most 72 characters (fewer if it has accented letters).")
			return
		case len([]rune(pw)) < minPasswordLen:
			s.invitePage(w, r, http.StatusBadRequest, inv, "Choose a password of at least 12 characters. A few unrelated words make a good one.")
			return
		case pw != r.PostFormValue("confirm"):
			s.invitePage(w, r, http.StatusBadRequest, inv, "The two passwords are not the same. Type the same password twice.")
			return
		case strings.EqualFold(pw, inv.Email):
			s.invitePage(w, r, http.StatusBadRequest, inv, "Your password cannot be your email address.")
			return
		}
		hash, err := secret.HashPassword(pw)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		u, err := s.store.AcceptInvite(r.Context(), inv.ID, hash, s.now())
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.auditAs(r, u, inventory.AuditEntry{SchoolID: inv.SchoolID, Action: "user.invite_accept", Record: "user/" + u.ID.String(), Detail: "took up the role " + string(inv.Role)})
		http.Redirect(w, r, "/signin?done=invited", http.StatusSeeOther)
	})
}
