package registercsv

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rollcall/rollcall/inventory"
)

// header is the export's columns; each is a name that [Parse] reads.
var header = []string{
	"Asset Tag", "Serial", "Kind", "Make", "Model", "Status", "Assigned To", "Location",
	"Purchase Date", "Purchase Cost", "Supplier", "Warranty End", "OS End of Support", "Shared", "Notes",
}

// Header returns the column names that [Write] writes, in order.
func Header() []string {
	return append([]string(nil), header...)
}

// Write writes assets as CSV: a UTF-8 byte-order mark, the [Header] row,
// then a row for each asset, with CRLF line ends. [Parse] reads the file
// back to the same assets, except for the fields a file does not carry:
// ID, SchoolID, DeviceID, CreatedAt and UpdatedAt. A cell that a
// spreadsheet would take for a formula is written with a ' in front.
func Write(w io.Writer, assets []*inventory.Asset) error {
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	for i, a := range assets {
		if a == nil {
			return fmt.Errorf("write csv: asset %d is nil", i)
		}
		shared := "no"
		if a.Shared {
			shared = "yes"
		}
		rec := []string{
			a.AssetTag, a.Serial, string(a.Kind), a.Make, a.Model, string(a.Status), a.AssignedTo, a.Location,
			formatDate(a.PurchaseDate), formatCost(a.PurchaseCost), a.Supplier, formatDate(a.WarrantyEnd),
			formatDate(a.OSEndOfSupport), shared, a.Notes,
		}
		for j, c := range rec {
			rec[j] = guard(c)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// guard puts a ' before a cell that a spreadsheet would run as a formula.
func guard(s string) string {
	if needsGuard(s) {
		return "'" + s
	}
	return s
}

// needsGuard reports whether s starts with a character that makes a
// spreadsheet read a formula (=, +, -, @, tab, carriage return), or with a
// ' before such a character, which [clean] would otherwise remove on the
// way back in.
func needsGuard(s string) bool {
	s = strings.TrimLeft(s, "'")
	return s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0]))
}

func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// formatCost writes pence as pounds, "499.99", or "" for zero.
func formatCost(pence int64) string {
	if pence == 0 {
		return ""
	}
	sign := ""
	if pence < 0 {
		sign, pence = "-", -pence
	}
	return fmt.Sprintf("%s%d.%02d", sign, pence/100, pence%100)
}
