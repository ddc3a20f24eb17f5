package agreement

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecordPDF(t *testing.T) {
	r := Record{Title: "Exit check-in record", School: "St Mary's", Footer: "Exit check-in of Zoë Ó Súilleabháin",
		At: time.Date(2027, 7, 23, 15, 0, 0, 0, time.UTC), Sections: []Section{
			{Heading: "Leaver", Rows: [][2]string{{"Name", "Zoë Ó Súilleabháin"}, {"Leaving date", "Friday 23 July 2027"}}},
			{Heading: "Dell Latitude 5440 (serial 5CD1234XYZ)", Rows: [][2]string{{"Returned", "23 July 2027, good"}, {"Factory reset", ""}}},
		}}
	pdf, err := r.PDF()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := r.PDF()
	if !bytes.Equal(pdf, again) {
		t.Error("the same record gave different bytes")
	}
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext not found: install poppler-utils (make test does)")
	}
	path := filepath.Join(t.TempDir(), "record.pdf")
	os.WriteFile(path, pdf, 0o600)
	out, err := exec.Command("pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Exit check-in record", "Zoë Ó Súilleabháin", "5CD1234XYZ", NotRecorded, "Page 1 of 1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the record lacks %q:\n%s", want, out)
		}
	}
}
