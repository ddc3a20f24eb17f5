// Package web serves Rollcall's HTTP side: the JSON REST API under
// /api/v1, health and metrics endpoints, and the device list page.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"html/template"
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
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"ago": ago,
}).ParseFS(templateFS, "templates/*.html"))

// NewServer returns the HTTP handler. gatherer serves /metrics.
func NewServer(logger *slog.Logger, store inventory.Store, gatherer prometheus.Gatherer) http.Handler {
	if logger == nil || store == nil || gatherer == nil {
		panic("web.NewServer: nil dependency")
	}
	logger = logger.With("component", "web")
	mux := http.NewServeMux()
	addRoutes(mux, logger, store, gatherer)
	return securityHeaders(mux)
}

// addRoutes lists every route the server answers.
func addRoutes(mux *http.ServeMux, logger *slog.Logger, store inventory.Store, gatherer prometheus.Gatherer) {
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
	mux.Handle("PUT /api/v1/schools/{slug}/policy", api(handlePolicyPut(logger, store)))
	mux.Handle("GET /{$}", requirePassword(logger, store)(handleDevicePage(logger, store)))
	mux.Handle("/api/", handleAPINotFound(logger))
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
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
	if v.schools == nil {
		return true
	}
	for _, s := range v.schools {
		if s == id {
			return true
		}
	}
	return false
}

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

// requirePassword authenticates pages with HTTP Basic authentication
// (email and password) until the dashboard's own sign-in exists.
func requirePassword(logger *slog.Logger, store inventory.UserStore) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			email, password, ok := r.BasicAuth()
			var u *inventory.User
			if ok {
				if e, err := inventory.NormalizeEmail(email); err == nil {
					u, err = store.FindUserByEmail(r.Context(), e)
					if err != nil && inventory.ErrorCode(err) != inventory.ENOTFOUND {
						writeError(w, r, logger, err) // an outage is not a wrong password
						return
					}
				}
			}
			signedIn := false
			if u != nil {
				signedIn = secret.CheckPassword(u.PasswordHash, password)
			} else if ok {
				signedIn = secret.CheckNoUser(password)
			}
			if !signedIn {
				w.Header().Set("WWW-Authenticate", `Basic realm="Rollcall: sign in with your email and password", charset="UTF-8"`)
				http.Error(w, "Sign in with your Rollcall email address and password.", http.StatusUnauthorized)
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
