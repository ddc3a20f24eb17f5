package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/secret"
	"github.com/rollcall/rollcall/server/vault"
)

// totpContext binds a sealed TOTP secret to its owner.
func totpContext(u *inventory.User) []byte { return vault.TOTPContext(u.ID.String()) }

// totpPage is the data of the second-factor page.
type totpPage struct {
	Next  string
	Error string
}

func (s *server) handleTOTPForm() http.Handler {
	return s.requirePartialSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := viewerOf(r.Context())
		if v.user.TOTPConfirmedAt.IsZero() {
			http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
			return
		}
		s.render(w, r, http.StatusOK, "totp.html", "Two-step check", totpPage{Next: safeNext(r.URL.Query().Get("next"))})
	}))
}

// handleTOTP checks a code from the authenticator app, or a recovery
// code, and completes the sign-in.
func (s *server) handleTOTP() http.Handler {
	return s.requirePartialSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		v := viewerOf(ctx)
		page := totpPage{Next: safeNext(r.PostFormValue("next"))}
		if v.user.TOTPConfirmedAt.IsZero() {
			http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
			return
		}
		// The attempt counts before the code is checked (see handleSignIn).
		key := "totp:" + v.user.ID.String()
		if err := s.store.RecordLoginFailure(ctx, key, s.now()); err != nil {
			s.pageError(w, r, err)
			return
		}
		if until, err := s.lockedUntil(ctx, key, totpFailures+1); err != nil {
			s.pageError(w, r, err)
			return
		} else if !until.IsZero() {
			s.endSession(w, r)
			s.render(w, r, http.StatusTooManyRequests, "signin.html", "Sign in", signinPage{Email: v.user.Email, Error: fmt.Sprintf("Too many wrong codes. For your safety this account is locked until %s UTC.", until.UTC().Format("15:04"))})
			return
		}
		code := strings.TrimSpace(r.PostFormValue("code"))
		ok, how, err := s.checkSecondFactor(r, v.user, code)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		if !ok {
			s.audit(r, inventory.AuditEntry{Action: "session.second_factor_failed", Record: "user/" + v.user.ID.String()})
			page.Error = "That code is not right, or was used already. Type the 6-digit code your authenticator app shows now, or one of your recovery codes."
			s.render(w, r, http.StatusUnauthorized, "totp.html", "Two-step check", page)
			return
		}
		now := s.now()
		if err := s.store.UpdateSession(ctx, v.session.ID, inventory.SessionUpdate{SecondFactorAt: &now}); err != nil {
			s.pageError(w, r, err)
			return
		}
		if err := s.store.ClearLoginFailures(ctx, key); err != nil {
			s.pageError(w, r, err)
			return
		}
		s.audit(r, inventory.AuditEntry{Action: "session.second_factor", Record: "user/" + v.user.ID.String(), Detail: how})
		http.Redirect(w, r, page.Next, http.StatusSeeOther)
	}))
}

// checkSecondFactor checks a TOTP code, or else a recovery code, and uses
// it up. It says which kind passed.
func (s *server) checkSecondFactor(r *http.Request, u *inventory.User, code string) (bool, string, error) {
	ctx := r.Context()
	if len(strings.ReplaceAll(code, " ", "")) == 6 {
		plain, err := s.vault.Open(u.TOTPSealed, totpContext(u))
		if err != nil {
			return false, "", fmt.Errorf("open TOTP secret: %w", err)
		}
		step, ok := secret.CheckTOTP(string(plain), code, s.now())
		if !ok {
			return false, "", nil
		}
		err = s.store.UseTOTPStep(ctx, u.ID, step)
		if inventory.ErrorCode(err) == inventory.ECONFLICT {
			return false, "", nil // replayed
		}
		return err == nil, "authenticator code", err
	}
	if code == "" {
		return false, "", nil
	}
	err := s.store.UseRecoveryCode(ctx, u.ID, secret.HashRecoveryCode(code), s.now())
	if inventory.ErrorCode(err) == inventory.ENOTFOUND {
		return false, "", nil
	}
	return err == nil, "recovery code", err
}

// endSession deletes the request's session and its cookie.
func (s *server) endSession(w http.ResponseWriter, r *http.Request) {
	if v := viewerOf(r.Context()); v.session != nil {
		if err := s.store.DeleteSession(r.Context(), v.session.ID); err != nil {
			s.logger.ErrorContext(r.Context(), "end session", "err", err)
		}
	}
	clearSessionCookie(w)
}

// totpSetupPage is the data of the set-up page.
type totpSetupPage struct {
	Secret   string // base32, grouped for typing
	QR       qrCode
	Required bool
	Error    string
	Codes    []string // the recovery codes, shown once after set-up
	Next     string
}

// pendingTOTP returns the viewer's unconfirmed TOTP secret, making and
// storing a new one when they have none.
func (s *server) pendingTOTP(r *http.Request, u *inventory.User) (string, error) {
	if u.TOTPSealed != nil && u.TOTPConfirmedAt.IsZero() {
		plain, err := s.vault.Open(u.TOTPSealed, totpContext(u))
		if err == nil {
			return string(plain), nil
		}
	}
	sec, err := secret.NewTOTP(totpIssuer, u.Email)
	if err != nil {
		return "", err
	}
	sealed, err := s.vault.Seal([]byte(sec), totpContext(u))
	if err != nil {
		return "", err
	}
	if err := s.store.SetTOTP(r.Context(), u.ID, sealed, time.Time{}); err != nil {
		return "", err
	}
	u.TOTPSealed = sealed
	return sec, nil
}

func (s *server) totpSetup(w http.ResponseWriter, r *http.Request, status int, errText string) {
	v := viewerOf(r.Context())
	sec, err := s.pendingTOTP(r, v.user)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	code, err := newQRCode(secret.TOTPURL(totpIssuer, v.user.Email, sec))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, status, "totp_setup.html", "Set up two-step sign-in", totpSetupPage{Secret: groupsOf4(sec), QR: code, Required: v.needsTOTP(), Error: errText})
}

// handleTOTPSetupForm shows the QR code of a new secret to a person who
// has none confirmed yet.
func (s *server) handleTOTPSetupForm() http.Handler {
	return s.requirePartialSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := viewerOf(r.Context())
		if !v.user.TOTPConfirmedAt.IsZero() {
			// Set up already: replacing it goes through a manager's reset,
			// so a stray link can never switch it off.
			http.Redirect(w, r, secondFactorPage(v), http.StatusSeeOther)
			return
		}
		s.totpSetup(w, r, http.StatusOK, "")
	}))
}

// handleTOTPSetup confirms the new secret with a code from it, then shows
// the recovery codes once.
func (s *server) handleTOTPSetup() http.Handler {
	return s.requirePartialSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		v := viewerOf(ctx)
		if !v.user.TOTPConfirmedAt.IsZero() {
			http.Redirect(w, r, secondFactorPage(v), http.StatusSeeOther)
			return
		}
		if v.user.TOTPSealed == nil {
			s.totpSetup(w, r, http.StatusBadRequest, "Scan this new code first, then type the code it gives.")
			return
		}
		plain, err := s.vault.Open(v.user.TOTPSealed, totpContext(v.user))
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		now := s.now()
		step, ok := secret.CheckTOTP(string(plain), r.PostFormValue("code"), now)
		if !ok {
			s.totpSetup(w, r, http.StatusBadRequest, "That code does not match. Check the time on your phone is right, and type the 6 digits the app shows now.")
			return
		}
		codes, hashes := secret.NewRecoveryCodes(recoveryCodes)
		// Recovery codes first: two-step sign-in is never on without them.
		for _, step := range []func() error{
			func() error { return s.store.ReplaceRecoveryCodes(ctx, v.user.ID, hashes) },
			func() error { return s.store.SetTOTP(ctx, v.user.ID, v.user.TOTPSealed, now) },
			func() error { return s.store.UseTOTPStep(ctx, v.user.ID, step) },
			func() error {
				return s.store.UpdateSession(ctx, v.session.ID, inventory.SessionUpdate{SecondFactorAt: &now})
			},
		} {
			if err := step(); err != nil {
				s.pageError(w, r, err)
				return
			}
		}
		s.audit(r, inventory.AuditEntry{Action: "user.totp_enabled", Record: "user/" + v.user.ID.String(), Detail: fmt.Sprintf("%d recovery codes issued", len(codes))})
		s.render(w, r, http.StatusOK, "totp_setup.html", "Your recovery codes", totpSetupPage{Codes: codes, Next: "/"})
	}))
}

// secondFactorPage is where a person with TOTP set up goes instead of the
// set-up page: home when signed in, else the code page.
func secondFactorPage(v viewer) string {
	if v.signedIn() {
		return "/"
	}
	return "/signin/totp"
}

// groupsOf4 writes a base32 secret in groups of four for typing.
func groupsOf4(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// qrCode is a QR code drawn as SVG squares, so that the page needs no
// image from elsewhere and no script.
type qrCode struct {
	Size    int
	Modules []qrModule
}

type qrModule struct{ X, Y int }

func newQRCode(content string) (qrCode, error) {
	bc, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return qrCode{}, fmt.Errorf("qr code: %w", err)
	}
	b := bc.Bounds()
	c := qrCode{Size: b.Dx() + 8}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, _, _, _ := bc.At(x, y).RGBA(); r == 0 {
				c.Modules = append(c.Modules, qrModule{X: x - b.Min.X + 4, Y: y - b.Min.Y + 4})
			}
		}
	}
	return c, nil
}
