package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/notify"
	"github.com/rollcall/rollcall/server/secret"
	"github.com/rollcall/rollcall/server/vault"
)

// The PIN register: PINs, passcodes and passwords of school kit, sealed
// with the vault key, shown only to the roles allowed after the person
// proves who they are again, and every view, change and use logged.

// pinLogReaders read the PIN log; pinSetters record and change values.
var (
	pinLogReaders = []inventory.Role{inventory.RoleTechnician, inventory.RoleHeadteacher, inventory.RoleAuditor}
	pinSetters    = kitManagers
)

// revealShownFor is how long a shown value stays on the page.
const revealShownFor = 60 * time.Second

// minReasonLen is the shortest reason for seeing a PIN.
const minReasonLen = 5

// pinKindNames are the kinds as people read them.
var pinKindNames = map[inventory.PINKind]string{
	inventory.PINDevicePasscode:       "Device passcode",
	inventory.PINRestrictionsPasscode: "Restrictions or Screen Time passcode",
	inventory.PINFirmwarePassword:     "Firmware (BIOS or UEFI) password",
	inventory.PINBitLockerRecoveryKey: "BitLocker recovery key",
	inventory.PINAppleIDNote:          "Apple ID or Activation Lock note",
}

func pinKindName(k inventory.PINKind) string {
	if n, ok := pinKindNames[k]; ok {
		return n
	}
	if k == "" {
		return "old values" // a purge is of every kind
	}
	return string(k)
}

// mayRevealPINs reports whether the viewer may see values at school sc:
// the technician, and the headteacher where the school allows it.
func mayRevealPINs(v viewer, sc *inventory.School) bool {
	return v.holds(sc.ID, kitManagers...) || sc.PINs.HeadteacherMayReveal && v.holds(sc.ID, inventory.RoleHeadteacher)
}

// anyAsset finds kit by a register entry's ID or an enrolled device's ID,
// whoever asks.
func (s *server) anyAsset(ctx context.Context, idText string) (*inventory.Asset, error) {
	id, err := uuid.Parse(idText)
	if err != nil {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "%q is not an ID", idText)
	}
	a, err := s.store.FindAssetByID(ctx, id)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND {
		a, err = s.store.FindAssetByDevice(ctx, id)
	}
	return a, err
}

// pinAsset finds the kit a PIN path names: a register entry's ID, or an
// enrolled device's ID. Anyone with a role at its school may name it.
func (s *server) pinAsset(ctx context.Context, idText string) (*inventory.Asset, *inventory.School, error) {
	notFound := inventory.Errorf(inventory.ENOTFOUND, "There is no kit %s at your school.", idText)
	a, err := s.anyAsset(ctx, idText)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND || err == nil && !viewerOf(ctx).canSee(a.SchoolID) {
		return nil, nil, notFound
	} else if err != nil {
		return nil, nil, err
	}
	sc, err := s.store.FindSchoolByID(ctx, a.SchoolID)
	return a, sc, err
}

// pinLog appends a PIN log entry for the request's viewer, and the audit
// entry that goes with it. A failure to write is logged: what it records
// has happened.
func (s *server) pinLog(r *http.Request, a *inventory.Asset, kind inventory.PINKind, action, reason string) {
	v := viewerOf(r.Context())
	e := &inventory.PINLogEntry{SchoolID: a.SchoolID, AssetID: a.ID, Kind: kind, Action: action, ActorID: v.user.ID, At: s.now(), Reason: reason, Addr: s.remoteAddr(r)}
	if err := s.store.AppendPINLog(r.Context(), e); err != nil {
		s.logger.ErrorContext(r.Context(), "write PIN log", "action", action, "err", err)
	}
	detail := pinKindName(kind) + " of " + a.Label()
	if reason != "" {
		detail += ": " + reason
	}
	s.audit(r, inventory.AuditEntry{SchoolID: a.SchoolID, Action: "pin." + action, Record: "asset/" + a.ID.String(), Detail: detail})
}

// setPIN records or changes a value; the old one is kept sealed for the
// retention period.
func (s *server) setPIN(r *http.Request, idText, kindText, value string) (*inventory.Asset, inventory.PINKind, error) {
	ctx := r.Context()
	kind, err := inventory.ParsePINKind(kindText)
	if err != nil {
		return nil, "", err
	}
	a, _, err := s.pinAsset(ctx, idText)
	if err != nil {
		return nil, kind, err
	}
	v := viewerOf(ctx)
	if !v.holds(a.SchoolID, pinSetters...) {
		return a, kind, inventory.Errorf(inventory.EFORBIDDEN, "Only the technician records PINs and passwords.")
	}
	if err := inventory.CheckPINValue(value); err != nil {
		return a, kind, err
	}
	sealed, err := s.vault.Seal([]byte(value), vault.PINContext(a.ID.String(), string(kind)))
	if err != nil {
		return a, kind, err
	}
	rec := &inventory.PINRecord{AssetID: a.ID, Kind: kind, Sealed: sealed, SetBy: v.user.ID, SetAt: s.now()}
	log := &inventory.PINLogEntry{Action: inventory.PINActionSet, ActorID: v.user.ID, At: rec.SetAt, Addr: s.remoteAddr(r)}
	if err := s.store.SetPIN(ctx, rec, log); err != nil {
		return a, kind, err
	}
	s.audit(r, inventory.AuditEntry{SchoolID: a.SchoolID, Action: "pin.set", Record: "asset/" + a.ID.String(), Detail: pinKindName(kind) + " of " + a.Label() + " recorded"})
	return a, kind, nil
}

// revealed is one value shown.
type revealed struct {
	Label string // "Device passcode", or a BitLocker volume and protector
	Value string
	Note  string // "retired 2 Dec 2026", "escrowed by the agent"
}

// revealInput is what a person gives to see a value.
type revealInput struct {
	Reason   string
	Password string
	Code     string // the second factor; checked when the person has one and asks from a page
	Page     bool
}

// revealPIN shows a value after checking the viewer's role, reason,
// password and (from a page) second factor. Each refusal is logged in
// the PIN log and the audit log; a view is logged and mailed to the
// school's network manager when someone else is shown it.
func (s *server) revealPIN(r *http.Request, idText, kindText string, in revealInput) (*inventory.Asset, []revealed, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	kind, err := inventory.ParsePINKind(kindText)
	if err != nil {
		return nil, nil, err
	}
	a, sc, err := s.pinAsset(ctx, idText)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND {
		// Someone from another school asking is refused as if the kit did
		// not exist, and the school's PIN log says so.
		if other, ferr := s.anyAsset(ctx, idText); ferr == nil {
			s.pinLog(r, other, kind, inventory.PINActionRefused, "asked from outside the school; reason given: "+strings.TrimSpace(in.Reason))
		}
		return nil, nil, err
	} else if err != nil {
		return nil, nil, err
	}
	reason := strings.TrimSpace(in.Reason)
	refuse := func(why string, err error) (*inventory.Asset, []revealed, error) {
		s.pinLog(r, a, kind, inventory.PINActionRefused, why+"; reason given: "+reason)
		return a, nil, err
	}
	if !mayRevealPINs(v, sc) {
		return refuse("no role to see PINs", inventory.Errorf(inventory.EFORBIDDEN, "Your roles at %s do not let you see PINs and passwords. Ask the technician.", sc.Name))
	}
	if utf8.RuneCountInString(reason) < minReasonLen {
		return refuse("no reason", inventory.Errorf(inventory.EINVALID, "Reason: say why you need it (at least %d characters). It goes into the PIN log.", minReasonLen))
	}
	key := "reveal:" + v.user.Email
	if until, err := s.lockedUntil(ctx, key, lockoutFailures); err != nil {
		return nil, nil, err
	} else if !until.IsZero() {
		return refuse("locked after failed attempts", inventory.Errorf(inventory.EFORBIDDEN, "Too many wrong passwords or codes: showing PINs is locked for you until %s UTC.", until.UTC().Format("15:04")))
	}
	// The attempt counts before it is checked, so guesses sent at once
	// cannot pass the limit; a success clears the count.
	if err := s.store.RecordLoginFailure(ctx, key, s.now()); err != nil {
		return nil, nil, err
	}
	ok := secret.CheckPassword(v.user.PasswordHash, in.Password)
	needCode := in.Page && !v.user.TOTPConfirmedAt.IsZero()
	if ok && needCode {
		code := strings.ReplaceAll(strings.TrimSpace(in.Code), " ", "")
		if ok = len(code) == 6; ok { // an authenticator code; recovery codes are for signing in
			var err error
			if ok, _, err = s.checkSecondFactor(r, v.user, code); err != nil {
				return nil, nil, err
			}
		}
	}
	if !ok {
		if needCode {
			return refuse("wrong password or code", inventory.Errorf(inventory.EUNAUTHORIZED, "That password or code is not right. Type your Rollcall password again, and the code your app shows now (not the one you signed in with)."))
		}
		return refuse("wrong password", inventory.Errorf(inventory.EUNAUTHORIZED, "That password is not right. Type your Rollcall password again."))
	}
	if err := s.store.ClearLoginFailures(ctx, key); err != nil {
		return nil, nil, err
	}
	values, err := s.openPINs(ctx, a, kind)
	if err != nil {
		return a, nil, err
	}
	s.pinLog(r, a, kind, inventory.PINActionView, reason)
	s.mailPINView(r, sc, a, kind, reason)
	return a, values, nil
}

// openPINs opens the values of one kind for a piece of kit: its PIN
// record, and for a BitLocker key also the keys its agent escrows.
func (s *server) openPINs(ctx context.Context, a *inventory.Asset, kind inventory.PINKind) ([]revealed, error) {
	var out []revealed
	if kind == inventory.PINBitLockerRecoveryKey && a.DeviceID != uuid.Nil {
		keys, err := s.store.FindRecoveryKeys(ctx, a.DeviceID)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			plain, err := s.vault.Open(k.Sealed, vault.RecoveryKeyContext(k.ProtectorID))
			if err != nil {
				return nil, err
			}
			note := "escrowed by the agent, last reported " + when(k.LastSeenAt)
			if !k.RetiredAt.IsZero() {
				note = "no longer on the disk since " + when(k.RetiredAt)
			}
			out = append(out, revealed{Label: "Volume " + k.Volume + ", protector " + k.ProtectorID, Value: string(plain), Note: note})
		}
	}
	rec, err := s.store.FindPINRecord(ctx, a.ID, kind)
	switch {
	case inventory.ErrorCode(err) == inventory.ENOTFOUND && len(out) == 0:
		return nil, inventory.Errorf(inventory.ENOTFOUND, "No %s is recorded for %s.", strings.ToLower(pinKindName(kind)), a.Label())
	case inventory.ErrorCode(err) == inventory.ENOTFOUND:
		return out, nil
	case err != nil:
		return nil, err
	}
	plain, err := s.vault.Open(rec.Sealed, vault.PINContext(a.ID.String(), string(kind)))
	if err != nil {
		return nil, err
	}
	note := "recorded " + when(rec.SetAt)
	if !rec.RetiredAt.IsZero() {
		note += "; retired " + when(rec.RetiredAt)
	}
	return append(out, revealed{Label: pinKindName(kind), Value: string(plain), Note: note}), nil
}

// mailPINView tells the school's network manager that someone else was
// shown a value. The email says who, what and why, never the value.
func (s *server) mailPINView(r *http.Request, sc *inventory.School, a *inventory.Asset, kind inventory.PINKind, reason string) {
	v := viewerOf(r.Context())
	nm := sc.PINs.NetworkManager
	if nm == "" || strings.EqualFold(nm, v.user.Email) {
		return
	}
	s.mail.Send(notify.PINViewed([]string{nm}, notify.PINView{School: sc.Name, Device: a.Label(), Kind: pinKindName(kind),
		Viewer: v.user.Name + " <" + v.user.Email + ">", Reason: reason, At: s.now(), Addr: s.remoteAddr(r), Link: s.mailBase(r) + "/pins?school=" + sc.Slug}))
}

// usePIN records that the viewer used a PIN, without showing it: staff
// say so for a shared iPad they unlocked.
func (s *server) usePIN(r *http.Request, idText, kindText, reason string) (*inventory.Asset, error) {
	kind, err := inventory.ParsePINKind(kindText)
	if err != nil {
		return nil, err
	}
	a, _, err := s.pinAsset(r.Context(), idText)
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(reason) > 500 {
		return a, inventory.Errorf(inventory.EINVALID, "Note: at most 500 characters.")
	}
	s.pinLog(r, a, kind, inventory.PINActionUse, strings.TrimSpace(reason))
	return a, nil
}

// pinRow is one kind on a piece of kit's PIN card.
type pinRow struct {
	Kind     inventory.PINKind
	Name     string
	Record   *inventory.PINRecord // nil when none is recorded
	SetBy    string
	Escrowed int // BitLocker keys the agent escrows
}

// pinCard is the PIN part of a register entry's page.
type pinCard struct {
	Rows      []pinRow
	CanSet    bool
	CanReveal bool
}

func (s *server) pinCard(ctx context.Context, n *names, a *inventory.Asset) (*pinCard, error) {
	v := viewerOf(ctx)
	sc, err := s.store.FindSchoolByID(ctx, a.SchoolID)
	if err != nil {
		return nil, err
	}
	card := &pinCard{CanSet: v.holds(a.SchoolID, pinSetters...) && a.Status != inventory.AssetDisposed, CanReveal: mayRevealPINs(v, sc)}
	recs, err := s.store.FindPINRecords(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	byKind := map[inventory.PINKind]*inventory.PINRecord{}
	for _, r := range recs {
		byKind[r.Kind] = r
	}
	escrowed := 0
	if a.DeviceID != uuid.Nil {
		keys, err := s.store.FindRecoveryKeys(ctx, a.DeviceID)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if k.RetiredAt.IsZero() {
				escrowed++
			}
		}
	}
	for _, k := range inventory.PINKinds {
		row := pinRow{Kind: k, Name: pinKindName(k), Record: byKind[k]}
		if row.Record != nil {
			row.SetBy = n.of(row.Record.SetBy)
		}
		if k == inventory.PINBitLockerRecoveryKey {
			row.Escrowed = escrowed
		}
		card.Rows = append(card.Rows, row)
	}
	return card, nil
}

func (s *server) handlePINSet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _, err := s.setPIN(r, r.PathValue("id"), r.PathValue("kind"), r.PostFormValue("value"))
		if err != nil {
			if a == nil {
				s.pageError(w, r, err)
				return
			}
			s.formFailed(w, r, err, func() (any, string, string, error) {
				page, perr := s.assetPage(r, a, nil, inventory.ErrorMessage(err))
				return page, "asset.html", a.Label(), perr
			})
			return
		}
		http.Redirect(w, r, "/register/"+a.ID.String()+"?done=pin-saved#pins", http.StatusSeeOther)
	})
}

// revealPage is the reveal form, and then the values shown.
type revealPage struct {
	Asset     *inventory.Asset
	Kind      inventory.PINKind
	Name      string
	NeedsCode bool
	Values    []revealed
	Reason    string
	Error     string
	Seconds   int
}

// refresh sends the browser back to the kit's page when the values have
// been shown for their minute.
func (p *revealPage) refresh() (int, string) {
	if len(p.Values) == 0 {
		return 0, ""
	}
	return p.Seconds, "/register/" + p.Asset.ID.String() + "#pins"
}

func (s *server) handleRevealForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, err := inventory.ParsePINKind(r.PathValue("kind"))
		var a *inventory.Asset
		if err == nil {
			a, _, err = s.pinAsset(r.Context(), r.PathValue("id"))
		}
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		v := viewerOf(r.Context())
		s.render(w, r, http.StatusOK, "pin_reveal.html", "Show "+pinKindName(kind), &revealPage{Asset: a, Kind: kind, Name: pinKindName(kind), NeedsCode: !v.user.TOTPConfirmedAt.IsZero()})
	})
}

func (s *server) handleReveal() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := revealInput{Reason: r.PostFormValue("reason"), Password: r.PostFormValue("password"), Code: r.PostFormValue("code"), Page: true}
		a, values, err := s.revealPIN(r, r.PathValue("id"), r.PathValue("kind"), in)
		kind, _ := inventory.ParsePINKind(r.PathValue("kind"))
		page := &revealPage{Asset: a, Kind: kind, Name: pinKindName(kind), NeedsCode: !viewerOf(r.Context()).user.TOTPConfirmedAt.IsZero(),
			Values: values, Reason: in.Reason, Seconds: int(revealShownFor / time.Second)}
		status := http.StatusOK
		if err != nil {
			if st := statusOf[inventory.ErrorCode(err)]; a == nil || st == 0 || st == http.StatusInternalServerError {
				s.pageError(w, r, err)
				return
			}
			page.Error, status = inventory.ErrorMessage(err), statusOf[inventory.ErrorCode(err)]
		}
		s.render(w, r, status, "pin_reveal.html", "Show "+pinKindName(kind), page)
	})
}

func (s *server) handlePINUse() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.usePIN(r, r.PathValue("id"), r.PathValue("kind"), r.PostFormValue("reason"))
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		back := "/register/" + a.ID.String() + "?done=pin-used#pins"
		if r.PostFormValue("back") == "trolley" || !viewerOf(r.Context()).holds(a.SchoolID, registerReaders...) {
			back = "/trolley?done=pin-used"
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
	})
}

// pinLogRow is a PIN log entry as a page shows it.
type pinLogRow struct {
	Entry  *inventory.PINLogEntry
	Actor  string
	Device string
	Kind   string
}

// pinsPage is the data of the PIN log page.
type pinsPage struct {
	Schools []*inventory.School
	School  *inventory.School
	Rows    []pinLogRow
	Next    string
	CanEdit bool // the headteacher sets the school's PIN rules
	Error   string
	Form    url.Values
}

func (s *server) pinLogRows(ctx context.Context, entries []*inventory.PINLogEntry) []pinLogRow {
	n := s.names(ctx)
	labels := map[uuid.UUID]string{}
	rows := make([]pinLogRow, 0, len(entries))
	for _, e := range entries {
		if _, ok := labels[e.AssetID]; !ok {
			labels[e.AssetID] = "kit no longer in the register"
			if a, err := s.store.FindAssetByID(ctx, e.AssetID); err == nil {
				labels[e.AssetID] = a.Label()
			}
		}
		actor := n.of(e.ActorID)
		if e.ActorID == uuid.Nil {
			actor = "Rollcall"
		}
		rows = append(rows, pinLogRow{Entry: e, Actor: actor, Device: labels[e.AssetID], Kind: pinKindName(e.Kind)})
	}
	return rows
}

func (s *server) pinsPage(r *http.Request, msg string, form url.Values) (*pinsPage, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	schools, err := s.schoolsFor(r, pinLogReaders)
	if err != nil {
		return nil, err
	}
	page := &pinsPage{Schools: schools, Error: msg, Form: form}
	slug := r.FormValue("school")
	for _, sc := range schools {
		if sc.Slug == slug || slug == "" && page.School == nil {
			page.School = sc
		}
	}
	if page.School == nil {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "There is no school %q whose PIN log you can read.", slug)
	}
	page.CanEdit = v.holds(page.School.ID, agreementEditors...)
	f := inventory.PINLogFilter{SchoolIDs: []uuid.UUID{page.School.ID}, Limit: 100}
	if b := r.URL.Query().Get("before"); b != "" {
		if f.Before, err = uuid.Parse(b); err != nil {
			return nil, inventory.Errorf(inventory.EINVALID, "before: %q is not a page cursor", b)
		}
	}
	entries, err := s.store.FindPINLog(ctx, f)
	if err != nil {
		return nil, err
	}
	if len(entries) == f.PageLimit() {
		page.Next = entries[len(entries)-1].ID.String()
	}
	page.Rows = s.pinLogRows(ctx, entries)
	if page.Form == nil {
		page.Form = url.Values{"network_manager": {page.School.PINs.NetworkManager}}
		if page.School.PINs.HeadteacherMayReveal {
			page.Form.Set("head_may_reveal", "on")
		}
	}
	return page, nil
}

func (s *server) handlePINsPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := s.pinsPage(r, "", nil)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "pins.html", "PIN log", page)
	})
}

// handlePINSettings saves a school's PIN rules: whether the headteacher
// may see values, and the network manager's address.
func (s *server) handlePINSettings() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, err := s.managedSchool(r, r.PostFormValue("school"), agreementEditors, "set the PIN rules")
		if err == nil {
			set := sc.PINs
			set.HeadteacherMayReveal = r.PostFormValue("head_may_reveal") != ""
			set.NetworkManager = strings.TrimSpace(r.PostFormValue("network_manager"))
			if set.NetworkManager != "" {
				set.NetworkManager, err = inventory.NormalizeEmail(set.NetworkManager)
			}
			if err == nil {
				err = s.store.SetSchoolPINSettings(r.Context(), sc.ID, set)
			}
			if err == nil {
				s.audit(r, inventory.AuditEntry{SchoolID: sc.ID, Action: "pin.settings", Record: "school/" + sc.Slug,
					Detail: "headteacher may see PINs: " + map[bool]string{true: "yes", false: "no"}[set.HeadteacherMayReveal] + "; network manager: " + set.NetworkManager})
			}
		}
		if err != nil {
			s.formFailed(w, r, err, func() (any, string, string, error) {
				page, perr := s.pinsPage(r, inventory.ErrorMessage(err), r.PostForm)
				return page, "pins.html", "PIN log", perr
			})
			return
		}
		http.Redirect(w, r, "/pins?school="+sc.Slug+"&done=pin-rules-saved", http.StatusSeeOther)
	})
}

// SendPINDigests emails each school's network manager the PIN log of the
// week, once a week, and returns how many it sent. base starts the links.
func SendPINDigests(ctx context.Context, store inventory.Store, mail Mailer, base string, now time.Time) (int, error) {
	schools, err := store.FindSchools(ctx)
	if err != nil {
		return 0, err
	}
	s := &server{store: store, now: func() time.Time { return now }}
	sent := 0
	for _, sc := range schools {
		set := sc.PINs
		if set.NetworkManager == "" || !set.DigestSentAt.IsZero() && now.Sub(set.DigestSentAt) < 7*24*time.Hour {
			continue
		}
		since := set.DigestSentAt
		if since.IsZero() {
			since = now.AddDate(0, 0, -7)
		}
		entries, err := store.FindPINLog(ctx, inventory.PINLogFilter{SchoolIDs: []uuid.UUID{sc.ID}, Since: since, Limit: inventory.MaxPageSize})
		if err != nil {
			return sent, err
		}
		// Saved first, so that two replicas sweeping at once send one.
		set.DigestSentAt = now
		if err := store.SetSchoolPINSettings(ctx, sc.ID, set); err != nil {
			return sent, err
		}
		var lines []notify.PINLogLine
		rows := s.pinLogRows(ctx, entries)
		for i := len(rows) - 1; i >= 0; i-- { // oldest first
			row := rows[i]
			lines = append(lines, notify.PINLogLine{At: row.Entry.At, Who: row.Actor, Action: pinActionPast[row.Entry.Action], Kind: row.Kind, Device: row.Device, Reason: row.Entry.Reason})
		}
		mail.Send(notify.PINDigest([]string{set.NetworkManager}, sc.Name, since, lines, base+"/pins?school="+sc.Slug))
		sent++
	}
	return sent, nil
}

// pinActionPast is each PIN log action as a verb for sentences.
var pinActionPast = map[string]string{
	inventory.PINActionSet: "recorded", inventory.PINActionView: "viewed", inventory.PINActionUse: "used",
	inventory.PINActionRefused: "was refused", inventory.PINActionRetire: "retired", inventory.PINActionPurge: "purged",
}

func pinActionText(action string) string {
	if t, ok := pinActionPast[action]; ok {
		return t
	}
	return action
}

// pinValueBody sets a value: {"value": "..."}.
type pinValueBody struct {
	Value string `json:"value"`
}

// pinRevealBody asks to see a value: {"reason": "...", "password": "..."}.
type pinRevealBody struct {
	Reason   string `json:"reason"`
	Password string `json:"password"`
}

// pinUseBody notes a use: {"reason": "..."}, the reason optional.
type pinUseBody struct {
	Reason string `json:"reason"`
}

// pinRecordJSON says what is recorded, never the value.
type pinRecordJSON struct {
	AssetID string `json:"asset_id"`
	Kind    string `json:"kind"`
	SetAt   string `json:"set_at"`
}

// revealedJSON is one value shown.
type revealedJSON struct {
	Label string `json:"label"`
	Value string `json:"value"`
	Note  string `json:"note"`
}

// pinLogJSON is a PIN log entry as the API shows it.
type pinLogJSON struct {
	ID       string `json:"id"`
	SchoolID string `json:"school_id"`
	AssetID  string `json:"asset_id"`
	Kind     string `json:"kind"`
	Action   string `json:"action"`
	ActorID  string `json:"actor_id,omitempty"`
	At       string `json:"at"`
	Reason   string `json:"reason"`
	Addr     string `json:"addr"`
}

func (s *server) handlePINSetAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b pinValueBody
		err := decodeBody(r, &b, "PIN", false)
		var a *inventory.Asset
		var kind inventory.PINKind
		if err == nil {
			a, kind, err = s.setPIN(r, r.PathValue("id"), r.PathValue("kind"), b.Value)
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, pinRecordJSON{AssetID: a.ID.String(), Kind: string(kind), SetAt: s.now().UTC().Format(time.RFC3339)})
	})
}

func (s *server) handleRevealAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b pinRevealBody
		err := decodeBody(r, &b, "reveal", false)
		var values []revealed
		if err == nil {
			_, values, err = s.revealPIN(r, r.PathValue("id"), r.PathValue("kind"), revealInput{Reason: b.Reason, Password: b.Password})
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		out := struct {
			Kind   string         `json:"kind"`
			Values []revealedJSON `json:"values"`
		}{Kind: r.PathValue("kind")}
		for _, v := range values {
			out.Values = append(out.Values, revealedJSON{Label: v.Label, Value: v.Value, Note: v.Note})
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, out)
	})
}

func (s *server) handlePINUseAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b pinUseBody
		err := decodeBody(r, &b, "use", true)
		if err == nil {
			_, err = s.usePIN(r, r.PathValue("id"), r.PathValue("kind"), b.Reason)
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"logged": true})
	})
}

// handlePINLogAPI lists the PIN log of the schools where the viewer reads
// it: ?school=slug, ?device= (a register entry), ?before=, ?limit=.
func (s *server) handlePINLogAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		v := viewerOf(ctx)
		q := r.URL.Query()
		f := inventory.PINLogFilter{SchoolIDs: v.schoolsWith(pinLogReaders...)}
		var err error
		if !v.mayAnywhere(pinLogReaders...) {
			err = inventory.Errorf(inventory.EFORBIDDEN, "reading the PIN log needs the technician, headteacher or auditor role")
		}
		if slug := q.Get("school"); slug != "" && err == nil {
			sc, serr := s.store.FindSchoolBySlug(ctx, slug)
			if serr != nil || !v.holds(sc.ID, pinLogReaders...) {
				err = inventory.Errorf(inventory.EINVALID, "school: there is no school %q whose PIN log you can read", slug)
			} else {
				f.SchoolIDs = []uuid.UUID{sc.ID}
			}
		}
		if d := q.Get("device"); d != "" && err == nil {
			a, _, aerr := s.pinAsset(ctx, d)
			if aerr != nil {
				err = inventory.Errorf(inventory.EINVALID, "device: %s", inventory.ErrorMessage(aerr))
			} else {
				f.AssetID = a.ID
			}
		}
		for name, to := range map[string]*uuid.UUID{"before": &f.Before} {
			if t := q.Get(name); t != "" && err == nil {
				if *to, err = uuid.Parse(t); err != nil {
					err = inventory.Errorf(inventory.EINVALID, "%s: %q is not an ID", name, t)
				}
			}
		}
		if err == nil {
			f.Limit, err = parseLimit(q)
		}
		var entries []*inventory.PINLogEntry
		if err == nil {
			entries, err = s.store.FindPINLog(ctx, f)
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		out := listJSON[pinLogJSON]{Items: make([]pinLogJSON, 0, len(entries))}
		for _, e := range entries {
			j := pinLogJSON{ID: e.ID.String(), SchoolID: e.SchoolID.String(), AssetID: e.AssetID.String(), Kind: string(e.Kind), Action: e.Action,
				At: e.At.UTC().Format(time.RFC3339), Reason: e.Reason, Addr: e.Addr}
			if e.ActorID != uuid.Nil {
				j.ActorID = e.ActorID.String()
			}
			out.Items = append(out.Items, j)
		}
		if len(entries) == f.PageLimit() {
			out.Next = entries[len(entries)-1].ID.String()
		}
		writeJSON(w, http.StatusOK, out)
	})
}
