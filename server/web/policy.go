package web

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/rollcall/rollcall/inventory"
)

// policyEditors are the roles that may change a school's policy.
var policyEditors = []inventory.Role{inventory.RoleTechnician, inventory.RoleHeadteacher}

// visibleSchool finds the school named in the path, answering 404 when it
// does not exist or the viewer cannot see it.
func visibleSchool(w http.ResponseWriter, r *http.Request, logger *slog.Logger, store inventory.SchoolStore) (*inventory.School, bool) {
	s, err := store.FindSchoolBySlug(r.Context(), r.PathValue("slug"))
	if err == nil && !viewerOf(r.Context()).canSee(s.ID) {
		err = inventory.Errorf(inventory.ENOTFOUND, "school %q not found", r.PathValue("slug"))
	}
	if err != nil {
		writeError(w, r, logger, err)
		return nil, false
	}
	return s, true
}

func handlePolicyGet(logger *slog.Logger, store inventory.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := visibleSchool(w, r, logger, store); ok {
			writeJSON(w, http.StatusOK, s.Policy)
		}
	})
}

// handlePolicyPut replaces a school's policy with the JSON document in the
// body. Settings left out keep their current values; unknown settings are
// refused by name.
func (s *server) handlePolicyPut() http.Handler {
	logger, store := s.logger, s.store
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, ok := visibleSchool(w, r, logger, store)
		if !ok {
			return
		}
		if !viewerOf(r.Context()).holds(sc.ID, policyEditors...) {
			writeError(w, r, logger, inventory.Errorf(inventory.EFORBIDDEN, "changing %s's policy needs the technician or headteacher role there", sc.Slug))
			return
		}
		p := sc.Policy
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			writeError(w, r, logger, inventory.Errorf(inventory.EINVALID, "policy: %s", describeJSONError(err)))
			return
		}
		if err := s.setPolicy(r, sc, p); err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
}

// setPolicy stores a school's new policy, audits the change and judges
// the school's devices again under it.
func (s *server) setPolicy(r *http.Request, sc *inventory.School, p inventory.Policy) error {
	ctx := r.Context()
	if err := s.store.SetSchoolPolicy(ctx, sc.ID, p); err != nil {
		return err
	}
	before, _ := json.Marshal(sc.Policy)
	after, _ := json.Marshal(p)
	s.audit(r, inventory.AuditEntry{SchoolID: sc.ID, Action: "policy.change", Record: "school/" + sc.Slug, Detail: "from " + string(before) + " to " + string(after)})
	// The store made every verdict of the school due; judge them now, or
	// else the sweep does within minutes.
	n, err := inventory.Rejudge(ctx, s.store, sc.ID, s.now())
	if err != nil {
		s.logger.ErrorContext(ctx, "judge devices after a policy change; the sweep will", "school", sc.Slug, "err", err)
	}
	s.logger.InfoContext(ctx, "policy changed", "school", sc.Slug, "by", viewerOf(ctx).user.Email, "devices_judged", n)
	return nil
}

// describeJSONError says what is wrong with a JSON body in words that name
// the field.
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return typeErr.Field + ": expected " + typeErr.Type.String()
	}
	if errors.Is(err, io.EOF) {
		return "the body is empty; send a JSON object"
	}
	return err.Error()
}
