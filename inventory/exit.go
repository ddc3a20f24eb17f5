package inventory

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// ExitStatus is where a leaver's exit check-in stands.
type ExitStatus string

// Exit statuses.
const (
	ExitOpen      ExitStatus = "open"
	ExitCompleted ExitStatus = "completed"
)

// ExitSource says why a piece of kit is on a leaver's check-in.
type ExitSource string

// Why kit is on a check-in.
const (
	ExitFromLoan     ExitSource = "loan"     // lent to the leaver
	ExitFromAssigned ExitSource = "assigned" // assigned to them in the register
	ExitFromSignOut  ExitSource = "sign_out" // a trolley sign-out not yet back
	ExitFromPIN      ExitSource = "pin"      // kit whose PINs they may know (they used or saw them)
)

// Exit steps, per piece of kit, in order.
const (
	StepReturned       = "returned"        // the kit is back: date and condition
	StepCredentials    = "credentials"     // PINs and passwords handed over, or the leaver signed in on the day
	StepAccountRemoved = "account_removed" // Activation Lock and personal accounts removed
	StepFactoryReset   = "factory_reset"   // reset to factory settings
	StepCleared        = "cleared"         // cleared for reuse
)

// ExitSteps lists every step.
var ExitSteps = []string{StepReturned, StepCredentials, StepAccountRemoved, StepFactoryReset, StepCleared}

// ExitStepDone is one step done: when, by whom, and what they noted.
type ExitStepDone struct {
	At   time.Time `json:"at"`
	By   uuid.UUID `json:"by"`
	Note string    `json:"note,omitempty"` // condition, how credentials were handed over, the reset's evidence
	// Auto marks a step Rollcall recorded by itself: a factory reset seen
	// when the laptop's agent enrolled again with a new OS install date.
	Auto bool `json:"auto,omitempty"`
}

// ExitItem is one piece of kit on a check-in and its steps.
type ExitItem struct {
	AssetID uuid.UUID               `json:"asset_id"`
	Source  ExitSource              `json:"source"`
	LoanID  uuid.UUID               `json:"loan_id,omitzero"`
	Steps   map[string]ExitStepDone `json:"steps"`
}

// Done reports whether every step of the item is done.
func (it *ExitItem) Done() bool {
	for _, s := range ExitSteps {
		if _, ok := it.Steps[s]; !ok {
			return false
		}
	}
	return true
}

// Exit is a leaver's exit check-in: everything they hold, each with its
// steps, the leaver's own confirmation, and the technician's and line
// manager's sign-off. It completes only when nothing is open.
type Exit struct {
	ID          uuid.UUID
	SchoolID    uuid.UUID
	PersonID    uuid.UUID // the leaver
	LeavingDate time.Time // midnight UTC
	StartedBy   uuid.UUID
	StartedAt   time.Time
	Status      ExitStatus
	Items       []ExitItem
	// LeaverConfirmedAt is when the leaver confirmed their part: that
	// they hold nothing else and have handed over what they know.
	LeaverConfirmedAt time.Time
	TechSignedBy      uuid.UUID
	TechSignedAt      time.Time
	ManagerSignedBy   uuid.UUID
	ManagerSignedAt   time.Time
	CompletedAt       time.Time
	// Version counts saves; UpdateExit saves only over the version read.
	Version int
}

// Clone returns a copy of e that shares nothing with it.
func (e *Exit) Clone() *Exit {
	v := *e
	if e.Items != nil {
		v.Items = make([]ExitItem, len(e.Items))
		for i, it := range e.Items {
			if it.Steps != nil {
				steps := make(map[string]ExitStepDone, len(it.Steps))
				for k, s := range it.Steps {
					steps[k] = s
				}
				it.Steps = steps
			}
			v.Items[i] = it
		}
	}
	return &v
}

// Item returns the check-in's item for an asset, or nil.
func (e *Exit) Item(assetID uuid.UUID) *ExitItem {
	for i := range e.Items {
		if e.Items[i].AssetID == assetID {
			return &e.Items[i]
		}
	}
	return nil
}

// Open lists what still stands between the check-in and its completion,
// in words for people; empty when it may complete.
func (e *Exit) Open() []string {
	var open []string
	for _, it := range e.Items {
		var left []string
		for _, s := range ExitSteps {
			if _, ok := it.Steps[s]; !ok {
				left = append(left, strings.ReplaceAll(s, "_", " "))
			}
		}
		if len(left) > 0 {
			open = append(open, "kit "+it.AssetID.String()+": "+strings.Join(left, ", "))
		}
	}
	if e.LeaverConfirmedAt.IsZero() {
		open = append(open, "the leaver's confirmation")
	}
	if e.TechSignedAt.IsZero() {
		open = append(open, "the technician's sign-off")
	}
	if e.ManagerSignedAt.IsZero() {
		open = append(open, "the line manager's sign-off")
	}
	return open
}

// DoStep records a step of one item.
func (e *Exit) DoStep(assetID uuid.UUID, step string, done ExitStepDone) error {
	if e.Status != ExitOpen {
		return Errorf(ECONFLICT, "the check-in is completed: nothing more is recorded on it")
	}
	it := e.Item(assetID)
	if it == nil {
		return Errorf(EINVALID, "that kit is not on this check-in")
	}
	known := false
	for _, s := range ExitSteps {
		known = known || s == step
	}
	switch {
	case !known:
		return Errorf(EINVALID, "step %q: use %s", step, joinQuoted(ExitSteps))
	case step != StepReturned && it.Steps[StepReturned].At.IsZero() && it.Source != ExitFromPIN:
		return Errorf(ECONFLICT, "record the kit's return first")
	case step == StepCleared && !it.stepsBefore(StepCleared):
		return Errorf(ECONFLICT, "cannot clear the kit for reuse yet: finish its other steps first")
	case utf8.RuneCountInString(done.Note) > maxLoanText:
		return Errorf(EINVALID, "note: at most %d characters", maxLoanText)
	case step == StepFactoryReset && !done.Auto && strings.TrimSpace(done.Note) == "":
		return Errorf(EINVALID, "note: say how the reset was done, so the record shows it (a laptop with an agent is recorded by itself when it enrols again)")
	}
	if it.Steps == nil {
		it.Steps = map[string]ExitStepDone{}
	}
	done.Note = strings.TrimSpace(done.Note)
	it.Steps[step] = done
	return nil
}

func (it *ExitItem) stepsBefore(step string) bool {
	for _, s := range ExitSteps {
		if s == step {
			return true
		}
		if _, ok := it.Steps[s]; !ok {
			return false
		}
	}
	return true
}

// Exit sign-offs.
const (
	SignLeaver  = "leaver"
	SignTech    = "technician"
	SignManager = "line_manager"
)

// SignOff records one party's sign-off. The technician and the line
// manager sign once every item is done; the leaver confirms their part
// at any time. Nobody signs off their own exit as technician or manager.
func (e *Exit) SignOff(as string, by uuid.UUID, now time.Time) error {
	if e.Status != ExitOpen {
		return Errorf(ECONFLICT, "the check-in is completed already")
	}
	if as != SignLeaver && by == e.PersonID {
		return Errorf(EFORBIDDEN, "a leaver confirms their own part, but someone else signs their check-in off")
	}
	if as != SignLeaver {
		for _, it := range e.Items {
			if !it.Done() {
				return Errorf(ECONFLICT, "cannot sign off yet: some kit still has steps open")
			}
		}
	}
	switch as {
	case SignLeaver:
		if by != e.PersonID {
			return Errorf(EFORBIDDEN, "only the leaver confirms their own part")
		}
		e.LeaverConfirmedAt = now
	case SignTech:
		if by == e.ManagerSignedBy {
			return Errorf(EFORBIDDEN, "the technician's sign-off must come from someone other than the line manager who signed")
		}
		e.TechSignedBy, e.TechSignedAt = by, now
	case SignManager:
		if by == e.TechSignedBy {
			return Errorf(EFORBIDDEN, "the line manager's sign-off must come from someone other than the technician who signed")
		}
		e.ManagerSignedBy, e.ManagerSignedAt = by, now
	default:
		return Errorf(EINVALID, "sign-off %q: use %s", as, joinQuoted([]string{SignLeaver, SignTech, SignManager}))
	}
	if len(e.Open()) == 0 {
		e.Status, e.CompletedAt = ExitCompleted, now
	}
	return nil
}

// ExitFilter selects check-ins, newest first.
type ExitFilter struct {
	SchoolIDs []uuid.UUID // nil: every school; empty non-nil: none
	PersonID  uuid.UUID   // uuid.Nil keeps all
	Status    ExitStatus  // "" keeps all
	Limit     int         // zero or less: DefaultPageSize; at most MaxPageSize
}

// ExitStore keeps leavers' check-ins.
type ExitStore interface {
	// CreateExit stores e, filling ID, StartedAt when zero, Status open
	// and Version 1. Returns ECONFLICT when the person has an open
	// check-in at the school already, and ENOTFOUND for an unknown
	// school, person or asset.
	CreateExit(ctx context.Context, e *Exit) error
	// FindExitByID returns ENOTFOUND if there is no such check-in.
	FindExitByID(ctx context.Context, id uuid.UUID) (*Exit, error)
	// FindExits returns the check-ins f selects.
	FindExits(ctx context.Context, f ExitFilter) ([]*Exit, error)
	// UpdateExit saves e over the version read (ECONFLICT if it changed
	// meanwhile; on success Version goes up by one). When e is completed
	// by this save, in the same transaction: record (the printable record,
	// a PDF) is stored once and never changes; every item's kit that is
	// not disposed goes back to in stock (kit listed only for its PINs
	// keeps its status); an on-loan loan of an item is
	// returned (ReceivedBy the technician who signed, ReturnNotes "returned
	// at the leaver's exit check-in"); and the items' PIN records are
	// retired (logged). Returns ENOTFOUND.
	UpdateExit(ctx context.Context, e *Exit, record []byte) error
	// FindExitRecord returns the PDF stored when a check-in completed, or
	// ENOTFOUND.
	FindExitRecord(ctx context.Context, exitID uuid.UUID) ([]byte, error)
}
