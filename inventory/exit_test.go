package inventory_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

func newExit(t *testing.T, sources ...inventory.ExitSource) (*inventory.Exit, []uuid.UUID) {
	t.Helper()
	e := &inventory.Exit{ID: uuid.New(), SchoolID: schoolID, PersonID: borrower, Status: inventory.ExitOpen, StartedAt: loanStart}
	var ids []uuid.UUID
	for _, src := range sources {
		id := uuid.New()
		e.Items = append(e.Items, inventory.ExitItem{AssetID: id, Source: src, Steps: map[string]inventory.ExitStepDone{}})
		ids = append(ids, id)
	}
	return e, ids
}

// TestExitRules: steps in order, a reset says how, the leaver confirms
// only their own part, the two sign-offs come from two other people, and
// the last completes the check-in.
func TestExitRules(t *testing.T) {
	done := func(note string) inventory.ExitStepDone {
		return inventory.ExitStepDone{At: loanStart, By: tech, Note: note}
	}
	e, ids := newExit(t, inventory.ExitFromLoan, inventory.ExitFromPIN)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"cleared first", e.DoStep(ids[0], inventory.StepCleared, done("")), "return first"},
		{"unknown step", e.DoStep(ids[0], "polished", done("")), "step"},
		{"kit not on it", e.DoStep(uuid.New(), inventory.StepReturned, done("")), "not on this check-in"},
		{"sign off with steps open", e.SignOff(inventory.SignTech, tech, loanStart), "steps open"},
		{"someone confirming for the leaver", e.SignOff(inventory.SignLeaver, head, loanStart), "only the leaver"},
		{"the leaver signing off as technician", e.SignOff(inventory.SignTech, borrower, loanStart), "someone else signs"},
		{"PIN-only kit needs no return", e.DoStep(ids[1], inventory.StepCredentials, done("told the technician")), ""},
		{"a reset without a note", e.DoStep(ids[1], inventory.StepFactoryReset, done("")), "how the reset was done"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" && tc.err != nil || tc.want != "" && (tc.err == nil || !strings.Contains(inventory.ErrorMessage(tc.err), tc.want)) {
				t.Errorf("got %v, want %q", tc.err, tc.want)
			}
		})
	}
	for _, id := range ids {
		for _, s := range inventory.ExitSteps {
			if _, ok := e.Item(id).Steps[s]; !ok {
				if err := e.DoStep(id, s, done("done")); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
		}
	}
	if err := e.SignOff(inventory.SignManager, lead, loanStart); err != nil {
		t.Fatal(err)
	}
	if err := e.SignOff(inventory.SignTech, lead, loanStart); err == nil || !strings.Contains(inventory.ErrorMessage(err), "other than the line manager") {
		t.Errorf("one person signing both: %v", err)
	}
	if err := e.SignOff(inventory.SignTech, tech, loanStart); err != nil || e.Status != inventory.ExitOpen {
		t.Fatalf("technician's sign-off: %v, %s", err, e.Status)
	}
	if open := e.Open(); len(open) != 1 || !strings.Contains(open[0], "leaver") {
		t.Errorf("open before the leaver confirms: %v", open)
	}
	at := loanStart.Add(time.Hour)
	if err := e.SignOff(inventory.SignLeaver, borrower, at); err != nil || e.Status != inventory.ExitCompleted || !e.CompletedAt.Equal(at) {
		t.Fatalf("the leaver's confirmation completes it: %v, %s", err, e.Status)
	}
	if err := e.DoStep(ids[0], inventory.StepReturned, done("")); err == nil {
		t.Error("a completed check-in took a step")
	}
}
