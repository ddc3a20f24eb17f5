package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/secret"
)

// Sign-in settings.
const (
	sessionCookie = "rollcall_session"
	// sessionTTL is how long a session lasts at most; sessionIdle is how
	// long it lasts without a request.
	sessionTTL  = 12 * time.Hour
	sessionIdle = 2 * time.Hour
	// A person is locked out for lockoutWindow after lockoutFailures
	// failed sign-ins within it; an address after addrFailures.
	lockoutFailures = 5
	addrFailures    = 30
	lockoutWindow   = 15 * time.Minute
	// A session whose second factor fails totpFailures times is ended.
	totpFailures = 5
	// recoveryCodes is how many one-time recovery codes a person gets.
	recoveryCodes = 10
	// totpIssuer names Rollcall in authenticator apps.
	totpIssuer = "Rollcall"
)

// totpRoles are the roles that must use a second factor.
var totpRoles = []inventory.Role{inventory.RoleOrgAdmin, inventory.RoleTechnician, inventory.RoleHeadteacher}

// needsTOTP reports whether the viewer must pass a second factor: they
// have one set up, or hold a role that requires one.
func (v viewer) needsTOTP() bool {
	if !v.user.TOTPConfirmedAt.IsZero() {
		return true
	}
	return slices.ContainsFunc(v.grants, func(g inventory.RoleGrant) bool { return slices.Contains(totpRoles, g.Role) })
}

// signedIn reports whether the viewer's session has every factor it needs.
func (v viewer) signedIn() bool {
	if v.session == nil {
		return v.user != nil // an API token
	}
	return !v.needsTOTP() || !v.session.SecondFactorAt.IsZero()
}

// remoteAddr returns the address the request came from: the host part of
// the connection's remote address, or, behind a trusted reverse proxy,
// the address the proxy appended to X-Forwarded-For.
func (s *server) remoteAddr(r *http.Request) string {
	if s.trustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			hops := strings.Split(xff[len(xff)-1], ",")
			if ip := net.ParseIP(strings.TrimSpace(hops[len(hops)-1])); ip != nil {
				return ip.String()
			}
		}
	}
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// isLoopback reports whether the request came to a loopback host over
// plain HTTP, where browsers accept secure cookies without TLS.
func isLoopback(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// csrfToken returns the token that forms of session s carry: an HMAC of a
// fixed label under the session's stored hash, which only the holder of
// the session cookie can learn from the pages.
func csrfToken(s *inventory.Session) string {
	if s == nil {
		return ""
	}
	m := hmac.New(sha256.New, s.Hash)
	m.Write([]byte("rollcall-csrf-v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether a form post carries the session's token.
func checkCSRF(r *http.Request, s *inventory.Session) bool {
	want := csrfToken(s)
	return want != "" && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(want)) == 1
}

// setSessionCookie gives the browser the session token.
func setSessionCookie(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteLaxMode,
	})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

// loadSession finds the viewer of the request's session cookie. It returns
// a zero viewer, and no error, when there is no live session.
func (s *server) loadSession(r *http.Request) (viewer, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return viewer{}, nil
	}
	ctx := r.Context()
	sess, err := s.store.FindSessionByHash(ctx, secret.HashToken(c.Value))
	if inventory.ErrorCode(err) == inventory.ENOTFOUND {
		return viewer{}, nil
	} else if err != nil {
		return viewer{}, err
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) > sessionIdle {
		return viewer{}, s.store.DeleteSession(ctx, sess.ID)
	}
	u, err := s.store.FindUserByID(ctx, sess.UserID)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND {
		return viewer{}, nil
	} else if err != nil {
		return viewer{}, err
	}
	if u.Disabled() {
		return viewer{}, nil
	}
	if now.Sub(sess.LastSeenAt) > time.Minute {
		err := s.store.UpdateSession(ctx, sess.ID, inventory.SessionUpdate{LastSeenAt: &now})
		if inventory.ErrorCode(err) == inventory.ENOTFOUND {
			return viewer{}, nil // signed out in another tab meanwhile
		} else if err != nil {
			return viewer{}, err
		}
		sess.LastSeenAt = now
	}
	v, err := resolveViewer(ctx, s.store, u)
	v.session = sess
	return v, err
}

// withSession puts the session's viewer, if any, into the request context.
func (s *server) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := s.loadSession(r)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, v)))
	})
}

// requireSignIn sends a browser without a complete sign-in to the step it
// is missing, and refuses form posts without the session's CSRF token.
func (s *server) requireSignIn(next http.Handler) http.Handler {
	return s.withSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := viewerOf(r.Context())
		switch {
		case v.user == nil:
			target := "/signin"
			if r.Method == http.MethodGet && r.URL.Path != "/" {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		case !v.signedIn() && v.user.TOTPConfirmedAt.IsZero():
			http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
			return
		case !v.signedIn():
			http.Redirect(w, r, "/signin/totp", http.StatusSeeOther)
			return
		}
		s.checkForm(w, r, v, next)
	}))
}

// checkForm refuses a form post without the session's CSRF token, and
// serves anything else with next.
func (s *server) checkForm(w http.ResponseWriter, r *http.Request, v viewer, next http.Handler) {
	if r.Method == http.MethodPost && !checkCSRF(r, v.session) {
		s.pageError(w, r, inventory.Errorf(inventory.EFORBIDDEN, "This form has expired or did not come from Rollcall. Go back, reload the page and try again."))
		return
	}
	next.ServeHTTP(w, r)
}

// signinPage is the data of the sign-in page.
type signinPage struct {
	Email    string
	Next     string
	Error    string
	Insecure bool
}

func (s *server) handleSignInForm() http.Handler {
	return s.withSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := viewerOf(r.Context()); v.user != nil && v.signedIn() {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		s.render(w, r, http.StatusOK, "signin.html", "Sign in", signinPage{Next: safeNext(r.URL.Query().Get("next")), Insecure: r.TLS == nil && !isLoopback(r) && r.Header.Get("X-Forwarded-Proto") != "https"})
	}))
}

// safeNext returns next when it is a path on this server, else "/": it
// must parse as a bare path (no scheme, no host), start with one slash,
// and hold no backslash or control character, which browsers would read
// as a way to another site.
func safeNext(next string) string {
	u, err := url.Parse(next)
	switch {
	case err != nil, u.Scheme != "", u.Host != "", u.User != nil, u.Opaque != "",
		!strings.HasPrefix(next, "/"), strings.HasPrefix(next, "//"),
		strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }):
		return "/"
	}
	return u.RequestURI()
}

// lockedUntil returns when key may try again, or the zero time if it may
// now.
func (s *server) lockedUntil(ctx context.Context, key string, limit int) (time.Time, error) {
	now := s.now()
	n, newest, err := s.store.CountLoginFailures(ctx, key, now.Add(-lockoutWindow))
	if err != nil || n < limit {
		return time.Time{}, err
	}
	return newest.Add(lockoutWindow), nil
}

func (s *server) handleSignIn() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		page := signinPage{Email: strings.TrimSpace(r.PostFormValue("email")), Next: safeNext(r.PostFormValue("next"))}
		addrKey := "addr:" + s.remoteAddr(r)
		email, emailErr := inventory.NormalizeEmail(page.Email)
		until, err := s.lockedUntil(ctx, addrKey, addrFailures)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		if !until.IsZero() {
			page.Error = fmt.Sprintf("Too many failed sign-ins have come from your network, so Rollcall is not accepting sign-ins from it until %s UTC. Wait and try again; if it keeps happening, tell your technician.", until.UTC().Format("15:04"))
			s.render(w, r, http.StatusTooManyRequests, "signin.html", "Sign in", page)
			return
		}
		// The account's attempt counts before the password is checked, so
		// guesses sent all at once cannot slip past the limit; a good
		// sign-in clears it again.
		if emailErr == nil {
			if err := s.store.RecordLoginFailure(ctx, email, s.now()); err != nil {
				s.pageError(w, r, err)
				return
			}
			until, err := s.lockedUntil(ctx, email, lockoutFailures+1)
			if err != nil {
				s.pageError(w, r, err)
				return
			}
			if !until.IsZero() {
				page.Error = fmt.Sprintf("Too many failed sign-ins. For your safety this account is locked until %s UTC. Wait and try again, or ask your technician or headteacher to reset your sign-in.", until.UTC().Format("15:04"))
				s.render(w, r, http.StatusTooManyRequests, "signin.html", "Sign in", page)
				return
			}
		}
		password := r.PostFormValue("password")
		var u *inventory.User
		if emailErr == nil {
			var err error
			u, err = s.store.FindUserByEmail(ctx, email)
			if err != nil && inventory.ErrorCode(err) != inventory.ENOTFOUND {
				s.pageError(w, r, err) // an outage is not a wrong password
				return
			}
		}
		right := false
		if u != nil {
			right = secret.CheckPassword(u.PasswordHash, password)
		} else {
			secret.CheckNoUser(password)
		}
		if ok := right && !u.Disabled(); !ok {
			if err := s.store.RecordLoginFailure(ctx, addrKey, s.now()); err != nil {
				s.pageError(w, r, err)
				return
			}
			failed := inventory.AuditEntry{Actor: orUnknown(email), Action: "session.signin_failed", Detail: "wrong email or password"}
			if u != nil {
				failed.SchoolID = s.onlySchool(r, u) // so the person's school sees attempts on them
			}
			s.audit(r, failed)
			page.Error = "That email address and password do not match an account. Check them and try again."
			if right { // only the right password learns the account is disabled
				page.Error = "This account has been disabled. Ask your technician if you need it back."
			}
			s.render(w, r, http.StatusUnauthorized, "signin.html", "Sign in", page)
			return
		}
		if err := s.store.ClearLoginFailures(ctx, email); err != nil {
			s.pageError(w, r, err)
			return
		}
		now := s.now()
		token, hash := secret.NewToken("")
		sess := &inventory.Session{Hash: hash, UserID: u.ID, LastSeenAt: now, ExpiresAt: now.Add(sessionTTL), Addr: s.remoteAddr(r), UserAgent: truncate(r.UserAgent(), 300)}
		if err := s.store.CreateSession(ctx, sess); err != nil {
			s.pageError(w, r, err)
			return
		}
		setSessionCookie(w, r, token, sess.ExpiresAt)
		s.auditAs(r, u, inventory.AuditEntry{Action: "session.signin", Record: "user/" + u.ID.String(), Detail: "password accepted"})
		v, err := resolveViewer(ctx, s.store, u)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		v.session = sess
		switch {
		case v.signedIn():
			http.Redirect(w, r, page.Next, http.StatusSeeOther)
		case u.TOTPConfirmedAt.IsZero():
			http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
		default:
			http.Redirect(w, r, "/signin/totp?next="+url.QueryEscape(page.Next), http.StatusSeeOther)
		}
	})
}

func orUnknown(s string) string {
	if s == "" {
		return "(no email given)"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

func (s *server) handleSignOut() http.Handler {
	return s.withSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := viewerOf(r.Context())
		if v.session != nil {
			if !checkCSRF(r, v.session) {
				s.pageError(w, r, inventory.Errorf(inventory.EFORBIDDEN, "This form has expired. Reload the page and sign out again."))
				return
			}
			if err := s.store.DeleteSession(r.Context(), v.session.ID); err != nil {
				s.pageError(w, r, err)
				return
			}
			s.audit(r, inventory.AuditEntry{Action: "session.signout", Record: "user/" + v.user.ID.String()})
		}
		clearSessionCookie(w)
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
	}))
}

// requirePartialSession lets through a browser that has passed the
// password step, for the second-factor pages.
func (s *server) requirePartialSession(next http.Handler) http.Handler {
	return s.withSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := viewerOf(r.Context())
		if v.session == nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		s.checkForm(w, r, v, next)
	}))
}
