package registercsv

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rollcall/rollcall/inventory"
)

// field is an [inventory.Asset] field, or something kept in its notes.
type field int

const (
	fNone field = iota
	fTag
	fSerial
	fMake
	fModel
	fModelNo
	fKind
	fStatus
	fLocation
	fAssignedTo
	fPurchaseDate
	fCost
	fSupplier
	fWarrantyEnd
	fWarrantyMonths
	fOSEnd
	fShared
	fNotes
	fName
	numFields
)

// columnNames lists the headers each field is read from, normalised, best
// first. Keep the package comment in step.
var columnNames = [numFields][]string{
	fTag:            {"asset tag", "tag", "asset no", "asset number", "tag number", "tag no"},
	fSerial:         {"serial", "serial number", "serial no"},
	fMake:           {"manufacturer", "make", "brand"},
	fModel:          {"model", "model name"},
	fModelNo:        {"model no", "model number"},
	fKind:           {"kind", "category", "type", "asset type", "device type"},
	fStatus:         {"status", "status label", "state"},
	fLocation:       {"location", "current location", "room", "default location", "rtd location"},
	fAssignedTo:     {"checked out to email", "assigned to email", "email", "email address", "user email", "assigned to", "checked out to"},
	fPurchaseDate:   {"purchase date", "date purchased", "purchased"},
	fCost:           {"purchase cost", "cost", "price", "purchase price", "unit cost"},
	fSupplier:       {"supplier", "vendor"},
	fWarrantyEnd:    {"warranty end", "warranty end date", "warranty expires", "warranty expiry", "warranty expiry date", "warranty expiration", "warranty expiration date", "warranty until"},
	fWarrantyMonths: {"warranty", "warranty months", "warranty length", "warranty period"},
	fOSEnd:          {"os end of support", "end of support", "eol", "eol date", "end of life"},
	fShared:         {"shared"},
	fNotes:          {"notes", "note", "comments"},
	fName:           {"name", "asset name", "device name"},
}

var columnIndex = func() map[string][2]int {
	m := map[string][2]int{}
	for f, names := range columnNames {
		for rank, n := range names {
			m[n] = [2]int{f, rank}
		}
	}
	return m
}()

// lookupColumn returns the field a header names and its rank among the
// field's names, or fNone.
func lookupColumn(header string) (field, int) {
	v, ok := columnIndex[normalise(header)]
	if !ok {
		return fNone, 0
	}
	return field(v[0]), v[1]
}

func fieldOf(header string) field {
	f, _ := lookupColumn(header)
	return f
}

// categories maps Snipe-IT category names, normalised and singular, to
// kinds. Rollcall's own kind names are read by [inventory.ParseAssetKind].
// Keep the package comment in step.
var categories = invert(map[inventory.AssetKind][]string{
	inventory.KindLaptop:    {"laptop", "notebook", "chromebook", "macbook"},
	inventory.KindDesktop:   {"desktop", "desktop pc", "pc", "all in one", "workstation", "imac"},
	inventory.KindTablet:    {"tablet", "ipad"},
	inventory.KindPhone:     {"phone", "mobile", "mobile phone", "smartphone", "iphone"},
	inventory.KindCamera:    {"camera", "document camera", "visualiser", "visualizer"},
	inventory.KindProjector: {"projector"},
})

func invert[T comparable](m map[T][]string) map[string]T {
	out := map[string]T{}
	for v, names := range m {
		for _, n := range names {
			out[n] = v
		}
	}
	return out
}

// parseKind returns the kind a Kind or Category cell names. For a
// category it does not know it returns KindOther and the category, to be
// kept in the notes.
func parseKind(v string) (inventory.AssetKind, string) {
	if k, err := inventory.ParseAssetKind(v); err == nil {
		return k, ""
	}
	n := normalise(v)
	if k, ok := categories[n]; ok {
		return k, ""
	}
	if k, ok := categories[strings.TrimSuffix(n, "s")]; ok {
		return k, ""
	}
	return inventory.KindOther, v
}

func kindList() string {
	names := make([]string, len(inventory.AssetKinds))
	for i, k := range inventory.AssetKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// statuses maps Snipe-IT status labels, normalised, to statuses.
// Rollcall's own names are read by [inventory.ParseAssetStatus]. Keep the
// package comment in step.
var statuses = invert(map[inventory.AssetStatus][]string{
	inventory.AssetInStock:  {"ready to deploy", "deployable", "available", "in stock", "spare"},
	inventory.AssetAssigned: {"deployed", "checked out", "assigned", "in use"},
	inventory.AssetInRepair: {"pending", "out for repair", "repair", "in repair", "awaiting repair"},
	inventory.AssetLost:     {"lost", "stolen", "lost stolen", "missing"},
	inventory.AssetRetired:  {"archived", "retired", "broken not fixable", "undeployable"},
	inventory.AssetDisposed: {"disposed", "disposed of", "recycled"},
})

// onLoan lists the normalised words for kit on loan, which an import
// refuses: a loan is recorded in Rollcall, with its agreement.
var onLoan = map[string]bool{"on loan": true, "loaned": true, "lent": true, "on loan to": true}

// statusParen splits "Ready to Deploy (Deployable)".
var statusParen = regexp.MustCompile(`^(.*?)\s*\(([^()]*)\)$`)

// parseStatus returns the status a Status cell names (in_stock for ""),
// or a message for a technician.
func parseStatus(v string) (inventory.AssetStatus, string) {
	if v == "" {
		return inventory.AssetInStock, ""
	}
	tries := []string{v}
	if m := statusParen.FindStringSubmatch(v); m != nil {
		tries = append(tries, m[1], m[2])
	}
	for _, s := range tries {
		n := normalise(s)
		st, err := inventory.ParseAssetStatus(s)
		if onLoan[n] || (err == nil && st == inventory.AssetOnLoan) {
			return "", fmt.Sprintf(`%q: loans are not imported; import it as "assigned" with Checked Out To, then record the loan in Rollcall`, v)
		}
		if err == nil {
			return st, ""
		}
		if st, ok := statuses[n]; ok {
			return st, ""
		}
	}
	return "", fmt.Sprintf(`%q is not a status: use in stock, assigned, in repair, lost, retired or disposed (Snipe-IT labels such as "Ready to Deploy", "Deployed", "Pending" and "Archived" are also read)`, v)
}

// parseCost reads pounds as pence. With decimalComma, as in a
// semicolon-separated file, ',' is the decimal point and '.' or a space
// separates thousands; otherwise '.' is the point and ',' separates.
func parseCost(v string, decimalComma bool) (int64, string) {
	point, group, example := ".", ",", "499.99"
	if decimalComma {
		point, group, example = ",", ".", "499,99"
	}
	notAmount := fmt.Sprintf("%q is not an amount: give pounds and pence, like %s", v, example)
	s := strings.TrimSpace(v)
	neg := false
	for {
		switch t := strings.TrimSpace(s); {
		case strings.HasPrefix(t, "£"):
			s = t[len("£"):]
			continue
		case strings.HasPrefix(t, "-"):
			s, neg = t[1:], true
			continue
		}
		break
	}
	s = strings.TrimSpace(s)
	if decimalComma {
		s = strings.ReplaceAll(strings.ReplaceAll(s, " ", group), "\u00a0", group)
	}
	whole, frac, _ := strings.Cut(s, point)
	if strings.Contains(frac, point) || (whole == "" && frac == "") || !digits(frac) {
		return 0, notAmount
	}
	if strings.Contains(whole, group) {
		parts := strings.Split(whole, group)
		for i, g := range parts {
			if !digits(g) || (i == 0 && (len(g) == 0 || len(g) > 3)) || (i > 0 && len(g) != 3) {
				return 0, notAmount
			}
		}
		whole = strings.Join(parts, "")
	}
	if !digits(whole) {
		return 0, notAmount
	}
	if neg {
		return 0, fmt.Sprintf("%q: a cost can't be negative", v)
	}
	if len(frac) > 2 {
		return 0, fmt.Sprintf("%q has more than two decimal places: give pounds and pence, like %s", v, example)
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 12 {
		return 0, fmt.Sprintf("%q is too large for a cost", v)
	}
	pounds, _ := strconv.ParseInt("0"+whole, 10, 64)
	pence, _ := strconv.ParseInt((frac + "00")[:2], 10, 64)
	return pounds*100 + pence, ""
}

// digits reports whether s is only ASCII digits (or empty).
func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Date layouts: year first, day first, and day first with a two-digit
// year, each with an optional time.
var (
	dateTime  = `(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2}|[aApP][mM])?)?`
	yearFirst = regexp.MustCompile(`^(\d{4})([-/.])(\d{1,2})([-/.])(\d{1,2})` + dateTime + `$`)
	dayFirst  = regexp.MustCompile(`^(\d{1,2})([-/.])(\d{1,2})([-/.])(\d{4})` + dateTime + `$`)
	shortYear = regexp.MustCompile(`^(\d{1,2})([-/.])(\d{1,2})([-/.])(\d{2})` + dateTime + `$`)
)

// Years a date may have: outside them, it is surely a typing mistake.
const (
	minYear = 1980
	maxYear = 2099
)

// parseDate reads a date as midnight UTC, or returns a message for a
// technician. Dates are day first, as in the UK.
func parseDate(v string) (time.Time, string) {
	notDate := fmt.Sprintf("%q is not a date: use dd/mm/yyyy or yyyy-mm-dd", v)
	var y, m, d int
	if p := yearFirst.FindStringSubmatch(v); p != nil && p[2] == p[4] {
		y, m, d = atoi(p[1]), atoi(p[3]), atoi(p[5])
	} else if p := dayFirst.FindStringSubmatch(v); p != nil && p[2] == p[4] {
		y, m, d = atoi(p[5]), atoi(p[3]), atoi(p[1])
		if !validDate(y, m, d) && validDate(y, d, m) {
			return time.Time{}, fmt.Sprintf("%q is not a date: dates are read day first, as dd/mm/yyyy, and this looks like mm/dd/yyyy", v)
		}
	} else if p := shortYear.FindStringSubmatch(v); p != nil && p[2] == p[4] {
		return time.Time{}, fmt.Sprintf("%q has a two-digit year: write the year in full, as dd/mm/yyyy", v)
	} else {
		return time.Time{}, notDate
	}
	if !validDate(y, m, d) {
		return time.Time{}, notDate
	}
	if y < minYear || y > maxYear {
		return time.Time{}, fmt.Sprintf("%q: the year %d is not between %d and %d", v, y, minYear, maxYear)
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), ""
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func validDate(y, m, d int) bool {
	return m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, time.Month(m))
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// addMonths returns t plus n months, on the last day of the month when t's
// day is past its end: 31 January plus one month is 28 or 29 February.
func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	return first.AddDate(0, 0, min(d, daysIn(first.Year(), first.Month()))-1)
}

// maxMonths is the longest warranty or life read: 20 years.
const maxMonths = 240

var monthsPattern = regexp.MustCompile(`(?i)^(\d{1,4})\s*(months?|mths?|mos?|years?|yrs?)?$`)

// parseMonths reads a length of time such as "36", "36 months" or
// "3 years" as months, or returns a message for a technician.
func parseMonths(v string) (int, string) {
	p := monthsPattern.FindStringSubmatch(strings.TrimSpace(v))
	if p == nil {
		return 0, fmt.Sprintf(`%q is not a number of months: use a number such as 36, or "3 years"`, v)
	}
	n := atoi(p[1])
	if strings.HasPrefix(strings.ToLower(p[2]), "y") {
		n *= 12
	}
	if n > maxMonths {
		return 0, fmt.Sprintf("%q is more than %d years", v, maxMonths/12)
	}
	return n, ""
}

// parseYesNo reads a Shared cell.
func parseYesNo(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "yes", "y", "true", "1", "shared":
		return true, true
	case "no", "n", "false", "0":
		return false, true
	}
	return false, false
}
