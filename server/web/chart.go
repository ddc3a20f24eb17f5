package web

import (
	"fmt"
	"time"

	"github.com/rollcall/rollcall/inventory"
)

// chart is the overview's 30-day compliance chart, drawn server-side as
// SVG: one stacked bar a day of compliant, unknown and noncompliant
// devices, as a share of the devices that day.
type chart struct {
	Width, Height int
	Bars          []chartBar
	Empty         bool
	From, To      string
}

// chartBar is one day's bar; the heights are in SVG units.
type chartBar struct {
	X, Width                    int
	Day                         string
	Devices                     int
	Compliant, Unknown, Failing int // counts
	CompliantY, CompliantH      int
	UnknownY, UnknownH          int
	FailingY, FailingH          int
}

const (
	chartWidth  = 600
	chartHeight = 160
)

// complianceChart draws days (of any schools) from since over n days.
func complianceChart(days []inventory.ComplianceDay, since time.Time, n int) chart {
	c := chart{Width: chartWidth, Height: chartHeight, Empty: true,
		From: since.Format("2 Jan"), To: since.AddDate(0, 0, n-1).Format("2 Jan 2006")}
	type sum struct{ devices, ok, unknown, bad int }
	byDay := map[string]*sum{}
	for _, d := range days {
		k := d.Day.UTC().Format("2006-01-02")
		if byDay[k] == nil {
			byDay[k] = &sum{}
		}
		t := byDay[k]
		t.devices += d.Devices
		t.ok += d.Compliant
		t.unknown += d.Unknown
		t.bad += d.Noncompliant
	}
	slot := chartWidth / n
	for i := range n {
		day := since.AddDate(0, 0, i)
		t, ok := byDay[day.Format("2006-01-02")]
		if !ok || t.devices == 0 {
			continue
		}
		c.Empty = false
		b := chartBar{X: i*slot + 1, Width: slot - 2, Day: day.Format("Mon 2 Jan"), Devices: t.devices, Compliant: t.ok, Unknown: t.unknown, Failing: t.bad}
		// Segments stack from the bottom; each top is placed from the
		// running total, so rounding leaves no gap between them.
		top := func(upTo int) int { return chartHeight - upTo*chartHeight/t.devices }
		b.FailingY, b.UnknownY, b.CompliantY = top(t.bad), top(t.bad+t.unknown), top(t.bad+t.unknown+t.ok)
		b.FailingH, b.UnknownH, b.CompliantH = chartHeight-b.FailingY, b.FailingY-b.UnknownY, b.UnknownY-b.CompliantY
		c.Bars = append(c.Bars, b)
	}
	return c
}

// Title is the bar's tooltip and its text for screen readers.
func (b chartBar) Title() string {
	return fmt.Sprintf("%s: %d devices, %d compliant, %d unknown, %d not compliant", b.Day, b.Devices, b.Compliant, b.Unknown, b.Failing)
}
