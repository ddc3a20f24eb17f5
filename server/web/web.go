// Package web serves Rollcall's HTTP side: the JSON REST API under
// /api/v1, health and metrics endpoints, and the device list page.
package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/secret"
	"github.com/rollcall/rollcall/server/vault"
)

// Options are what the web side needs besides the store.
type Options struct {
	// Vault seals TOTP secrets. Required.
	Vault *vault.Vault
	// Enroll makes enrolment tokens for the enrolment page; nil hides the
	// page's form.
	Enroll EnrollTokenMaker
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// TrustProxy takes the client's address from the last hop of
	// X-Forwarded-For, for a server behind a reverse proxy. Leave it off
	// when clients reach the server directly: they could forge the header.
	TrustProxy bool
	// Mail sends the loan emails; nil sends none.
	Mail Mailer
	// PublicURL starts the links in emails ("https://rollcall.school.example").
	// Links never come from a request's Host header, which its sender
	// chooses. Empty: http:// and the request's local address.
	PublicURL string
}

// EnrollTokenMaker makes an enrolment token for a school: uses devices
// within ttl. It is admin.CreateEnrollToken bound to the server's CA and
// agent address.
type EnrollTokenMaker func(ctx context.Context, schoolSlug string, uses int, ttl time.Duration) (string, error)

// server holds what every handler shares.
type server struct {
	logger *slog.Logger
	store  inventory.Store
	vault  *vault.Vault
	enroll EnrollTokenMaker
	now    func() time.Time
	// trustProxy: see Options.TrustProxy.
	trustProxy bool
	mail       Mailer
	publicURL  string
}

// NewServer returns the HTTP handler. gatherer serves /metrics.
func NewServer(logger *slog.Logger, store inventory.Store, gatherer prometheus.Gatherer, o Options) http.Handler {
	if logger == nil || store == nil || gatherer == nil || o.Vault == nil {
		panic("web.NewServer: nil dependency")
	}
	s := &server{logger: logger.With("component", "web"), store: store, vault: o.Vault, enroll: o.Enroll, now: o.Now, trustProxy: o.TrustProxy, mail: o.Mail, publicURL: strings.TrimRight(o.PublicURL, "/")}
	if s.now == nil {
		s.now = time.Now
	}
	if s.mail == nil {
		s.mail = discardMail{}
	}
	mux := http.NewServeMux()
	s.addRoutes(mux, gatherer)
	// Browsers mark cross-site form posts; they are refused before any
	// handler runs. Forms also carry a per-session token (checkCSRF).
	return securityHeaders(http.NewCrossOriginProtection().Handler(mux))
}

// addRoutes lists every route the server answers.
func (s *server) addRoutes(mux *http.ServeMux, gatherer prometheus.Gatherer) {
	logger, store := s.logger, s.store
	api := requireAPIToken(logger, store)
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.Handle("GET /api/v1/devices", api(handleDeviceList(logger, store)))
	mux.Handle("GET /api/v1/devices/{id}", api(handleDeviceGet(logger, store)))
	mux.Handle("GET /api/v1/devices/{id}/events", api(handleDeviceEvents(logger, store)))
	mux.Handle("GET /api/v1/devices/{id}/posture-history", api(handlePostureHistory(logger, store)))
	mux.Handle("GET /api/v1/usb-events", api(handleUSBEvents(logger, store)))
	mux.Handle("GET /api/v1/compliance", api(handleCompliance(logger, store)))
	mux.Handle("GET /api/v1/schools/{slug}/policy", api(handlePolicyGet(logger, store)))
	mux.Handle("PUT /api/v1/schools/{slug}/policy", api(s.handlePolicyPut()))
	mux.Handle("GET /api/v1/schools/{slug}/retention", api(s.handleRetentionGetAPI()))
	mux.Handle("PUT /api/v1/schools/{slug}/retention", api(s.handleRetentionPutAPI()))
	mux.Handle("GET /api/v1/audit", api(s.handleAuditAPI()))
	mux.Handle("GET /api/v1/register", api(s.handleRegisterListAPI()))
	mux.Handle("POST /api/v1/register", api(s.handleAssetCreateAPI()))
	mux.Handle("GET /api/v1/register/export.csv", api(s.handleRegisterCSV(s.apiFail)))
	mux.Handle("POST /api/v1/register/import", limitBody(maxImportBytes, api(s.handleImportAPI())))
	mux.Handle("GET /api/v1/register/{id}", api(s.handleAssetGetAPI()))
	mux.Handle("GET /api/v1/loans", api(s.handleLoanListAPI()))
	mux.Handle("POST /api/v1/loans", api(s.handleLoanCreateAPI()))
	mux.Handle("GET /api/v1/loans/{id}", api(s.handleLoanGetAPI()))
	mux.Handle("POST /api/v1/loans/{id}/{step}", api(s.handleLoanStepAPI()))
	mux.Handle("GET /api/v1/loans/{id}/agreement.pdf", api(s.handleAgreementPDF(s.apiFail)))
	mux.Handle("PUT /api/v1/devices/{id}/pins/{kind}", api(s.handlePINSetAPI()))
	mux.Handle("POST /api/v1/devices/{id}/pins/{kind}/reveal", api(s.handleRevealAPI()))
	mux.Handle("POST /api/v1/devices/{id}/pins/{kind}/use", api(s.handlePINUseAPI()))
	mux.Handle("GET /api/v1/pin-log", api(s.handlePINLogAPI()))
	mux.Handle("POST /api/v1/devices/{id}/dispose", limitBody(inventory.MaxCertificateBytes+1<<20, api(s.handleDisposeAPI())))
	mux.Handle("POST /api/v1/exits", api(s.handleExitStartAPI()))
	mux.Handle("GET /api/v1/exits/{id}", api(s.handleExitGetAPI()))
	mux.Handle("POST /api/v1/exits/{id}/steps", api(s.handleExitStepAPI()))
	mux.Handle("POST /api/v1/exits/{id}/signoff", api(s.handleExitSignOffAPI()))
	mux.Handle("GET /api/v1/openapi.json", handleOpenAPI())
	mux.Handle("/api/", handleAPINotFound(logger))

	mux.Handle("GET /static/rollcall.css", handleStylesheet())
	mux.Handle("GET /signin", s.handleSignInForm())
	mux.Handle("POST /signin", s.handleSignIn())
	mux.Handle("POST /signout", s.handleSignOut())
	mux.Handle("GET /signin/totp", s.handleTOTPForm())
	mux.Handle("POST /signin/totp", s.handleTOTP())
	mux.Handle("GET /account/totp", s.handleTOTPSetupForm())
	mux.Handle("POST /account/totp", s.handleTOTPSetup())

	page := s.requireSignIn
	mux.Handle("GET /{$}", page(s.handleHome()))
	mux.Handle("GET /devices", page(s.requirePage(fleetReaders, s.handleDevicesPage())))
	mux.Handle("GET /devices.csv", page(s.requirePage(fleetReaders, s.handleDevicesCSV())))
	mux.Handle("GET /devices/{id}", page(s.requirePage(fleetReaders, s.handleDevicePage())))
	mux.Handle("POST /devices/{id}/enrollments/{eid}/revoke", page(s.requirePage(deviceManagers, s.handleRevokeEnrollment())))
	mux.Handle("GET /enrolment", page(s.requirePage(deviceManagers, s.handleEnrolmentPage())))
	mux.Handle("POST /enrolment", page(s.requirePage(deviceManagers, s.handleEnrolmentCreate())))
	mux.Handle("POST /enrolment/tokens/{id}/revoke", page(s.requirePage(deviceManagers, s.handleEnrolmentRevoke())))
	mux.Handle("GET /policy", page(s.requirePage(fleetReaders, s.handlePolicyPage())))
	mux.Handle("POST /policy/{slug}", page(s.requirePage(policyEditors, s.handlePolicySave())))
	mux.Handle("GET /people", page(s.requirePage(peopleManagers, s.handlePeoplePage())))
	mux.Handle("POST /people/invite", page(s.requirePage(peopleManagers, s.handleInvite())))
	mux.Handle("POST /people/{id}/disable", page(s.requirePage(peopleManagers, s.handleSetDisabled(true))))
	mux.Handle("POST /people/{id}/enable", page(s.requirePage(peopleManagers, s.handleSetDisabled(false))))
	mux.Handle("POST /people/{id}/reset", page(s.requirePage(peopleManagers, s.handleResetSignIn())))
	mux.Handle("POST /people/{id}/roles", page(s.requirePage(peopleManagers, s.handleRole(true))))
	mux.Handle("POST /people/{id}/roles/revoke", page(s.requirePage(peopleManagers, s.handleRole(false))))
	mux.Handle("GET /audit", page(s.requirePage(auditReaders, s.handleAuditPage())))
	mux.Handle("GET /retention", page(s.requirePage(retentionReaders, s.handleRetentionPage())))
	mux.Handle("POST /retention/{slug}", page(s.requirePage(retentionReaders, s.handleRetentionSave())))
	mux.Handle("GET /account/export.json", page(s.handleSubjectExport(true)))
	mux.Handle("GET /people/{id}/export.json", page(s.requirePage(peopleManagers, s.handleSubjectExport(false))))
	mux.Handle("GET /register", page(s.requirePage(registerReaders, s.handleRegisterPage())))
	mux.Handle("GET /register.csv", page(s.requirePage(registerReaders, s.handleRegisterCSV(s.pageError))))
	mux.Handle("GET /register/new", page(s.requirePage(kitManagers, s.handleNewAssetPage())))
	mux.Handle("POST /register", page(s.requirePage(kitManagers, s.handleAssetCreate())))
	mux.Handle("GET /register/import", page(s.requirePage(kitManagers, s.handleImportPage())))
	mux.Handle("POST /register/import", limitBody(maxImportBytes+1<<20, page(s.requirePage(kitManagers, s.handleImport()))))
	mux.Handle("GET /register/{id}", page(s.requirePage(registerReaders, s.handleAssetPage())))
	mux.Handle("POST /register/{id}", page(s.requirePage(kitManagers, s.handleAssetUpdate())))
	mux.Handle("GET /loans", page(s.handleLoansPage()))
	mux.Handle("GET /loans/new", page(s.handleNewLoanPage()))
	mux.Handle("POST /loans", page(s.handleLoanCreate()))
	mux.Handle("GET /loans/{id}", page(s.handleLoanPage()))
	mux.Handle("POST /loans/{id}/{step}", page(s.handleLoanStep()))
	mux.Handle("GET /loans/{id}/agreement.pdf", page(s.handleAgreementPDF(s.pageError)))
	mux.Handle("GET /agreements", page(s.requirePage(agreementEditors, s.handleAgreementsPage())))
	mux.Handle("POST /agreements", page(s.requirePage(agreementEditors, s.handleAgreementSave())))
	mux.Handle("POST /agreements/settings", page(s.requirePage(agreementEditors, s.handleLoanSettingsSave())))
	mux.Handle("POST /register/{id}/pins/{kind}", page(s.requirePage(pinSetters, s.handlePINSet())))
	mux.Handle("GET /register/{id}/pins/{kind}/reveal", page(s.handleRevealForm()))
	mux.Handle("POST /register/{id}/pins/{kind}/reveal", page(s.handleReveal()))
	mux.Handle("POST /register/{id}/pins/{kind}/use", page(s.handlePINUse()))
	mux.Handle("GET /pins", page(s.requirePage(pinLogReaders, s.handlePINsPage())))
	mux.Handle("POST /pins/settings", page(s.requirePage(agreementEditors, s.handlePINSettings())))
	mux.Handle("POST /register/{id}/dispose", limitBody(inventory.MaxCertificateBytes+1<<20, page(s.requirePage(kitManagers, s.handleDispose()))))
	mux.Handle("GET /register/{id}/certificate", page(s.requirePage(registerReaders, s.handleCertificate(s.pageError))))
	mux.Handle("GET /exits", page(s.handleExitsPage()))
	mux.Handle("POST /exits", page(s.requirePage(exitStarters, s.handleExitStart())))
	mux.Handle("GET /exits/{id}", page(s.handleExitPage()))
	mux.Handle("POST /exits/{id}/steps", page(s.handleExitStep()))
	mux.Handle("POST /exits/{id}/signoff", page(s.handleExitSignOff()))
	mux.Handle("GET /exits/{id}/record.pdf", page(s.handleExitRecord(s.pageError)))
	mux.Handle("GET /trolley", page(s.handleTrolleyPage()))
	mux.Handle("POST /trolley/out", page(s.handleKitOut()))
	mux.Handle("POST /trolley/{id}/in", page(s.handleKitIn()))
	mux.Handle("GET /invite/{token}", s.withSession(s.handleInviteForm()))
	mux.Handle("POST /invite/{token}", s.withSession(s.handleInviteAccept()))
	mux.Handle("/", page(s.handlePageNotFound()))
}

// Who may do what. An organisation admin may do everything everywhere.
var (
	// fleetReaders may see devices, their posture and compliance.
	fleetReaders = []inventory.Role{inventory.RoleTechnician, inventory.RoleHeadteacher, inventory.RoleComputingLead, inventory.RoleAuditor}
	// deviceManagers may revoke certificates and make enrolment tokens.
	deviceManagers = []inventory.Role{inventory.RoleTechnician}
	// auditReaders may read the audit log.
	auditReaders = []inventory.Role{inventory.RoleTechnician, inventory.RoleHeadteacher, inventory.RoleAuditor}
)

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

func handleAPINotFound(logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, logger, inventory.Errorf(inventory.ENOTFOUND, "no API route %s %s", r.Method, r.URL.Path))
	})
}

// viewer is the person a request is made for, and the schools they may see.
type viewer struct {
	user    *inventory.User
	schools []uuid.UUID // nil means every school
	grants  []inventory.RoleGrant
	session *inventory.Session // nil for an API token
}

// schoolsWith returns the schools where the viewer holds one of roles:
// nil for an organisation admin (every school), else a non-nil slice,
// empty when none.
func (v viewer) schoolsWith(roles ...inventory.Role) []uuid.UUID {
	out := []uuid.UUID{}
	for _, g := range v.grants {
		if g.Role == inventory.RoleOrgAdmin {
			return nil
		}
		if slices.Contains(roles, g.Role) && !slices.Contains(out, g.SchoolID) {
			out = append(out, g.SchoolID)
		}
	}
	return out
}

// mayAnywhere reports whether the viewer holds one of roles in some school.
func (v viewer) mayAnywhere(roles ...inventory.Role) bool {
	ids := v.schoolsWith(roles...)
	return ids == nil || len(ids) > 0
}

// holds reports whether the viewer holds one of roles in school id; an
// organisation admin holds every role everywhere.
func (v viewer) holds(id uuid.UUID, roles ...inventory.Role) bool {
	for _, g := range v.grants {
		if g.Role == inventory.RoleOrgAdmin || g.SchoolID == id && slices.Contains(roles, g.Role) {
			return true
		}
	}
	return false
}

type viewerKey struct{}

func viewerOf(ctx context.Context) viewer {
	v, _ := ctx.Value(viewerKey{}).(viewer)
	return v
}

// resolveViewer loads a user's grants and the schools they may see.
func resolveViewer(ctx context.Context, store inventory.UserStore, u *inventory.User) (viewer, error) {
	grants, err := store.FindRoleGrants(ctx, u.ID)
	if err != nil {
		return viewer{}, err
	}
	v := viewer{user: u, schools: []uuid.UUID{}, grants: grants}
	for _, g := range grants {
		if g.Role == inventory.RoleOrgAdmin {
			v.schools = nil
			return v, nil
		}
		v.schools = append(v.schools, g.SchoolID)
	}
	return v, nil
}

// canSee reports whether the viewer may see records of school id.
func (v viewer) canSee(id uuid.UUID) bool {
	return v.schools == nil || slices.Contains(v.schools, id)
}

// canSeeFleet reports whether the viewer may see the devices of school id.
func (v viewer) canSeeFleet(id uuid.UUID) bool { return v.holds(id, fleetReaders...) }

// requireAPIToken authenticates REST calls with a bearer API token.
func requireAPIToken(logger *slog.Logger, store inventory.UserStore) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || tok == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="rollcall"`)
				writeError(w, r, logger, inventory.Errorf(inventory.EUNAUTHORIZED, "send an API token: Authorization: Bearer <token> (make one with `rollcall api-token create`)"))
				return
			}
			t, err := store.FindAPITokenByHash(r.Context(), secret.HashToken(tok))
			if inventory.ErrorCode(err) == inventory.ENOTFOUND {
				err = inventory.Errorf(inventory.EUNAUTHORIZED, "API token is not valid")
			}
			if err != nil {
				writeError(w, r, logger, err)
				return
			}
			u, err := store.FindUserByID(r.Context(), t.UserID)
			if err == nil && u.Disabled() {
				err = inventory.Errorf(inventory.EUNAUTHORIZED, "API token belongs to a disabled account")
			}
			if err != nil {
				writeError(w, r, logger, err)
				return
			}
			v, err := resolveViewer(r.Context(), store, u)
			if err != nil {
				writeError(w, r, logger, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, v)))
		})
	}
}

// statusOf maps each domain error code to its HTTP status.
var statusOf = map[string]int{
	inventory.ECONFLICT:       http.StatusConflict,
	inventory.EINTERNAL:       http.StatusInternalServerError,
	inventory.EINVALID:        http.StatusBadRequest,
	inventory.ENOTFOUND:       http.StatusNotFound,
	inventory.EUNAUTHORIZED:   http.StatusUnauthorized,
	inventory.EFORBIDDEN:      http.StatusForbidden,
	inventory.EEXPIRED:        http.StatusForbidden,
	inventory.EEXHAUSTED:      http.StatusForbidden,
	inventory.EREVOKED:        http.StatusForbidden,
	inventory.EREPORTREQUIRED: http.StatusConflict,
}

// writeError answers with {"error": {"code", "message"}}, logging internal
// errors once.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := inventory.ErrorCode(err)
	st, ok := statusOf[code]
	if !ok {
		st = http.StatusInternalServerError
	}
	if st == http.StatusInternalServerError {
		logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, st, map[string]any{"error": map[string]string{"code": code, "message": inventory.ErrorMessage(err)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ago renders how long ago t was, for people.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour") + " ago"
	}
	return plural(int(d.Hours()/24), "day") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
