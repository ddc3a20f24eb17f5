package web

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

func TestComplianceChart(t *testing.T) {
	since := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	a, b := uuid.New(), uuid.New()
	days := []inventory.ComplianceDay{
		{SchoolID: a, Day: since, Devices: 3, Compliant: 1, Unknown: 1, Noncompliant: 1},
		{SchoolID: b, Day: since, Devices: 4, Compliant: 4},
		{SchoolID: a, Day: since.AddDate(0, 0, 29), Devices: 7, Compliant: 2, Unknown: 2, Noncompliant: 3},
		{SchoolID: a, Day: since.AddDate(0, 0, 40), Devices: 7, Compliant: 7}, // after the window
	}
	c := complianceChart(days, since, 30)
	if c.Empty || len(c.Bars) != 2 {
		t.Fatalf("chart has %d bars, empty %v; want 2", len(c.Bars), c.Empty)
	}
	first, last := c.Bars[0], c.Bars[1]
	if first.Devices != 7 || first.Compliant != 5 || first.Unknown != 1 || first.Failing != 1 {
		t.Errorf("the first day sums both schools wrongly: %+v", first)
	}
	if first.X >= last.X || last.X+last.Width > c.Width {
		t.Errorf("bars at x=%d and x=%d (width %d) do not fit a %d-wide chart in order", first.X, last.X, last.Width, c.Width)
	}
	for _, bar := range c.Bars {
		// The three segments stack with no gap or overlap and fill the height.
		if bar.FailingY+bar.FailingH != c.Height || bar.UnknownY+bar.UnknownH != bar.FailingY ||
			bar.CompliantY+bar.CompliantH != bar.UnknownY || bar.CompliantY != 0 {
			t.Errorf("bar %s does not stack to the full height: %+v", bar.Day, bar)
		}
	}
	if got := last.Title(); got != "Tue 1 Dec: 7 devices, 2 compliant, 2 unknown, 3 not compliant" {
		t.Errorf("Title = %q", got)
	}
	if empty := complianceChart(nil, since, 30); !empty.Empty || len(empty.Bars) != 0 {
		t.Errorf("a chart of no days = %+v", empty)
	}
}
