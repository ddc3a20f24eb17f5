package agreement

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // so that TestUKTime has Europe/London to compare with
)

var fields = Fields{
	School:         "St Mary's C of E Primary",
	Borrower:       "Zoë Ó Súilleabháin",
	BorrowerEmail:  "zoe@stmarys.sch.uk",
	Kind:           "laptop",
	Make:           "Dell",
	Model:          "Latitude 5440",
	Serial:         "5CD1234XYZ",
	AssetTag:       "SM-0042",
	Accessories:    "charger and case",
	Reason:         "Working from home",
	ExpectedReturn: "24 July 2027",
	CheckInterval:  "every 6 weeks",
}

func signed() Signed {
	tpl := Default().Fill(fields)
	tpl.Body += "\n\nA replacement charger costs £35."
	return Signed{
		Template:        tpl,
		TemplateVersion: 3,
		School:          fields.School,
		Signature: Signature{
			FullName: "Zoë Ó Súilleabháin",
			SignedAt: time.Date(2026, 12, 2, 14, 5, 0, 0, time.UTC),
			Address:  "203.0.113.7",
		},
	}
}

func TestTemplate_Check(t *testing.T) {
	ok := Template{Title: "Loan", Body: "You borrow the {make}.", Declarations: []string{"I agree."}}
	with := func(f func(*Template)) Template {
		c := ok
		c.Declarations = append([]string(nil), ok.Declarations...)
		f(&c)
		return c
	}
	many := make([]string, MaxDeclarations+1)
	for i := range many {
		many[i] = "I agree."
	}
	tests := []struct {
		name string
		tpl  Template
		want []string // substrings of the error; none: no error
	}{
		{"Default", Default(), nil},
		{"OK", ok, nil},
		{"Escapes", with(func(t *Template) { t.Body = "Write {{make}} to show {make}; a }} closes." }), nil},
		{"SpacesAndCase", with(func(t *Template) { t.Body = "{ Make } {ASSET_TAG}" }), nil},
		{"MaxDeclarations", with(func(t *Template) { t.Declarations = many[:MaxDeclarations] }), nil},
		{"EmptyTitle", with(func(t *Template) { t.Title = "  " }), []string{"The title is empty."}},
		{"EmptyBody", with(func(t *Template) { t.Body = "\n\n" }), []string{"The body is empty."}},
		{"NoDeclarations", with(func(t *Template) { t.Declarations = nil }), []string{"no declarations"}},
		{"TooManyDeclarations", with(func(t *Template) { t.Declarations = many }), []string{"There are 21 declarations; the most allowed is 20."}},
		{"EmptyDeclaration", with(func(t *Template) { t.Declarations = append(t.Declarations, " ") }), []string{"Declaration 2 is empty."}},
		{"UnknownInBody", with(func(t *Template) { t.Body = "The {mke} laptop." }), []string{
			"The body uses an unknown placeholder “{mke}”.", "Did you mean “{make}”?",
			"The placeholders you can use are {school}, {borrower}, ", "{check_interval}.",
		}},
		{"UnknownInDeclaration", with(func(t *Template) { t.Declarations = append(t.Declarations, "Email {email}.") }), []string{
			"Declaration 2 uses an unknown placeholder “{email}”.", "Did you mean “{borrower_email}”?",
		}},
		{"UnknownInTitle", with(func(t *Template) { t.Title = "Loan for {teacher}" }), []string{"The title uses an unknown placeholder “{teacher}”."}},
		{"Unclosed", with(func(t *Template) { t.Body = "Return by {expected_return." }), []string{
			"The body has a “{” that is never closed, near “Return by {expected_return.”", "write {{ or }}",
		}},
		{"UnclosedBeforeAnother", with(func(t *Template) { t.Body = "The {make {model}." }), []string{"The body has a “{” that is never closed"}},
		{"UnopenedClose", with(func(t *Template) { t.Declarations = []string{"I agree}."} }), []string{"Declaration 1 has a “}” with no “{” before it"}},
		{"TooLong", with(func(t *Template) { t.Body = strings.Repeat("a", MaxChars) }), []string{"The agreement is 20,012 characters long; the most allowed is 20,000."}},
		{"Several", Template{Body: "{x"}, []string{"The title is empty.", "never closed", "no declarations"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tpl.Check()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Check() = %q, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check() = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	want := []string{"school", "borrower", "borrower_email", "kind", "make", "model", "serial",
		"asset_tag", "accessories", "reason", "expected_return", "check_interval"}
	var got []string
	for _, p := range Placeholders() {
		got = append(got, p.Name)
		if p.Help == "" {
			t.Errorf("{%s} has no help", p.Name)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Placeholders() = %v, want %v", got, want)
	}
}

func TestTemplate_Fill(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		fields Fields
		want   string
	}{
		{"Plain", "No placeholders.", fields, "No placeholders."},
		{"Device", "{make} {model}, serial {serial}, tag {asset_tag}", fields, "Dell Latitude 5440, serial 5CD1234XYZ, tag SM-0042"},
		{"Accents", "Signed by {borrower}", fields, "Signed by Zoë Ó Súilleabháin"},
		{"Escapes", "{{make}} is {make}; }} and {{", fields, "{make} is Dell; } and {"},
		{"EscapeAroundPlaceholder", "{{{make}}}", fields, "{Dell}"},
		{"SpacesAndCase", "{ Make }", fields, "Dell"},
		{"Missing", "Back by {expected_return}.", Fields{}, "Back by (not recorded)."},
		{"Blank", "Back by {expected_return}.", Fields{ExpectedReturn: " \t"}, "Back by (not recorded)."},
		{"WhiteSpaceInValue", "{accessories}", Fields{Accessories: "charger\n  case"}, "charger case"},
		{"ValueNotReadAgain", "{make}", Fields{Make: "{serial}"}, "{serial}"},
		{"UnknownLeft", "{mke} {make}", fields, "{mke} Dell"},
		{"UnclosedLeft", "{make", fields, "{make"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Template{Title: tc.in, Body: tc.in, Declarations: []string{tc.in}}.Fill(tc.fields)
			want := Template{Title: tc.want, Body: tc.want, Declarations: []string{tc.want}}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
				t.Errorf("Fill(%q) = %q, want %q", tc.in, got, want)
			}
		})
	}

	t.Run("Every", func(t *testing.T) {
		var body []string
		for _, p := range Placeholders() {
			body = append(body, "{"+p.Name+"}")
		}
		got := Template{Body: strings.Join(body, "|")}.Fill(fields).Body
		want := strings.Join([]string{fields.School, fields.Borrower, fields.BorrowerEmail, fields.Kind,
			fields.Make, fields.Model, fields.Serial, fields.AssetTag, fields.Accessories, fields.Reason,
			fields.ExpectedReturn, fields.CheckInterval}, "|")
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		if got := (Template{Body: strings.Join(body, "|")}).Fill(Fields{}).Body; got != strings.Repeat(NotRecorded+"|", len(body)-1)+NotRecorded {
			t.Errorf("with no fields, got %q", got)
		}
	})

	t.Run("Default", func(t *testing.T) {
		got := Default().Fill(fields)
		all := got.Title + got.Body + strings.Join(got.Declarations, "")
		if strings.ContainsAny(all, "{}") {
			t.Errorf("filled default still has braces: %q", all)
		}
		for _, v := range []string{fields.School, fields.Borrower, fields.Serial, fields.AssetTag, fields.Make, fields.Model} {
			if !strings.Contains(got.Body, v) {
				t.Errorf("filled body lacks %q", v)
			}
		}
		if n := len(got.Declarations); n < 4 || n > 7 {
			t.Errorf("default has %d declarations, want 4 to 7", n)
		}
	})
}

func TestSigned_Text(t *testing.T) {
	s := signed()
	text := s.Text()
	if text != s.Text() || s.Digest() != s.Digest() {
		t.Fatal("Text or Digest differs between calls")
	}
	sum := sha256.Sum256([]byte(text))
	if got, want := s.Digest(), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("Digest() = %s, want %s", got, want)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(s.Digest()) {
		t.Fatalf("Digest() = %q, not lower-case hex SHA-256", s.Digest())
	}
	for _, want := range []string{
		"Equipment loan agreement\nSt Mary's C of E Primary\n\nThis agreement is between",
		"\n[x] I am borrowing the Dell Latitude 5440 with serial number 5CD1234XYZ and asset tag SM-0042,",
		"\n\nSigned by: Zoë Ó Súilleabháin\nSigned at: 2026-12-02T14:05:00Z\nAddress: 203.0.113.7\nTemplate version: 3\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Text() lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "\r") {
		t.Error("Text() has a carriage return")
	}

	same := []struct {
		name   string
		change func(*Signed)
	}{
		{"CRLF", func(s *Signed) { s.Template.Body = strings.ReplaceAll(s.Template.Body, "\n", "\r\n") }},
		{"TrailingSpace", func(s *Signed) { s.Template.Body += "  \n" }},
		{"OtherZone", func(s *Signed) { s.Signature.SignedAt = s.Signature.SignedAt.In(time.FixedZone("X", 5*3600)) }},
		{"Nanoseconds", func(s *Signed) { s.Signature.SignedAt = s.Signature.SignedAt.Add(999 * time.Millisecond) }},
		{"NameSpaces", func(s *Signed) { s.Signature.FullName = " Zoë  Ó Súilleabháin " }},
	}
	for _, tc := range same {
		t.Run("Same"+tc.name, func(t *testing.T) {
			c := signed()
			tc.change(&c)
			if c.Digest() != s.Digest() {
				t.Errorf("digest changed:\n%s", c.Text())
			}
		})
	}

	differ := []struct {
		name   string
		change func(*Signed)
	}{
		{"NameByte", func(s *Signed) { s.Signature.FullName = "Zoe Ó Súilleabháin" }},
		{"BodyByte", func(s *Signed) { s.Template.Body = strings.Replace(s.Template.Body, "£35", "£36", 1) }},
		{"Title", func(s *Signed) { s.Template.Title += "s" }},
		{"Declaration", func(s *Signed) { s.Template.Declarations[1] += "!" }},
		{"DeclarationOrder", func(s *Signed) { d := s.Template.Declarations; d[0], d[1] = d[1], d[0] }},
		{"Paragraphs", func(s *Signed) { s.Template.Body = strings.Replace(s.Template.Body, "\n\n", "\n", 1) }},
		{"School", func(s *Signed) { s.School = "St Mary's" }},
		{"Second", func(s *Signed) { s.Signature.SignedAt = s.Signature.SignedAt.Add(time.Second) }},
		{"Address", func(s *Signed) { s.Signature.Address = "203.0.113.8" }},
		{"Version", func(s *Signed) { s.TemplateVersion = 4 }},
	}
	for _, tc := range differ {
		t.Run("Differs"+tc.name, func(t *testing.T) {
			c := signed()
			tc.change(&c)
			if c.Digest() == s.Digest() {
				t.Error("digest did not change")
			}
		})
	}
}

// pdfToText writes pdf to a temporary file and returns its text, with runs
// of white space made single spaces, and what pdfinfo says of it.
func pdfToText(t *testing.T, pdf []byte) (text, info string) {
	t.Helper()
	for _, tool := range []string{"pdftotext", "pdfinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install poppler-utils", tool)
		}
	}
	path := filepath.Join(t.TempDir(), "agreement.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	inf, err := exec.Command("pdfinfo", path).Output()
	if err != nil {
		t.Fatalf("pdfinfo: %v", err)
	}
	return strings.Join(strings.Fields(string(out)), " "), string(inf)
}

// pages returns the page count in pdfinfo's output.
func pages(t *testing.T, info string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)$`).FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("pdfinfo gave no page count:\n%s", info)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestSigned_PDF(t *testing.T) {
	s := signed()
	pdf, err := s.PDF()
	if err != nil {
		t.Fatal(err)
	}
	text, info := pdfToText(t, pdf)
	n := pages(t, info)
	want := []string{
		"Equipment loan agreement", fields.School, "Zoë Ó Súilleabháin", fields.Serial, fields.AssetTag,
		"A replacement charger costs £35.", "2 December 2026 at 14:05 GMT", "203.0.113.7",
		"Agreement template version 3", s.Digest(), fmt.Sprintf("Page %d of %d", n, n),
	}
	for _, d := range s.Template.Declarations {
		want = append(want, d)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("PDF text lacks %q:\n%s", w, text)
		}
	}

	t.Run("Info", func(t *testing.T) {
		for _, w := range []string{
			"Title: Equipment loan agreement", "Author: Rollcall", "Subject: Signed loan agreement, SHA-256 " + s.Digest(),
			"CreationDate: Wed Dec 2 14:05:00 2026",
		} {
			if !strings.Contains(strings.Join(strings.Fields(info), " "), w) {
				t.Errorf("pdfinfo lacks %q:\n%s", w, info)
			}
		}
		if !strings.Contains(string(pdf), "/CreationDate(D:20261202140500+00'00')") {
			t.Error("PDF lacks its creation date in GMT")
		}
	})

	t.Run("Deterministic", func(t *testing.T) {
		c := signed()
		c.Signature.SignedAt = c.Signature.SignedAt.In(time.FixedZone("X", -7*3600))
		again, err := c.PDF()
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(pdf) {
			t.Error("the same agreement gave a different PDF")
		}
	})

	t.Run("SummerTime", func(t *testing.T) {
		c := signed()
		c.Signature.SignedAt = time.Date(2027, 7, 1, 8, 30, 0, 0, time.UTC)
		pdf, err := c.PDF()
		if err != nil {
			t.Fatal(err)
		}
		if text, _ := pdfToText(t, pdf); !strings.Contains(text, "1 July 2027 at 09:30 BST") {
			t.Errorf("PDF text lacks the time in BST:\n%s", text)
		}
	})

	t.Run("LongBody", func(t *testing.T) {
		c := signed()
		var paras []string
		for i := range 300 {
			paras = append(paras, fmt.Sprintf("Paragraph %d. The equipment remains the property of the school throughout the loan, and this sentence is long enough to wrap across more than one line of the page.", i+1))
		}
		c.Template.Body = strings.Join(paras, "\n\n")
		c.Template.Declarations = append(c.Template.Declarations, strings.Repeat("Unbroken", 40))
		pdf, err := c.PDF()
		if err != nil {
			t.Fatal(err)
		}
		text, info := pdfToText(t, pdf)
		n := pages(t, info)
		if n < 10 {
			t.Fatalf("300 paragraphs made %d pages, want at least 10", n)
		}
		for _, w := range []string{"Paragraph 1.", "Paragraph 300.", c.Digest(), "Page 1 of " + strconv.Itoa(n), fmt.Sprintf("Page %d of %d", n, n)} {
			if !strings.Contains(text, w) {
				t.Errorf("PDF text lacks %q", w)
			}
		}
	})
}

func TestUKTime(t *testing.T) {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	for year := 2000; year <= 2037; year++ {
		for _, at := range []time.Time{
			time.Date(year, 1, 15, 12, 0, 0, 0, time.UTC),
			time.Date(year, 7, 15, 12, 0, 0, 0, time.UTC),
			time.Date(year, 3, 31, 0, 59, 0, 0, time.UTC),
			time.Date(year, 10, 31, 0, 59, 0, 0, time.UTC),
		} {
			// Each hour either side of the changes in March and October.
			for h := -24 * 8; h <= 24*8; h++ {
				u := at.Add(time.Duration(h) * time.Hour)
				got, want := ukTime(u).Format("2006-01-02 15:04 MST -0700"), u.In(loc).Format("2006-01-02 15:04 MST -0700")
				if got != want {
					t.Fatalf("ukTime(%s) = %s, want %s", u.Format(time.RFC3339), got, want)
				}
			}
		}
	}
}

func TestCheckSignature(t *testing.T) {
	tests := []struct {
		name, fullName, recorded string
		want                     string // substring of the error; "" for none
	}{
		{"Exact", "Jo Bloggs", "Jo Bloggs", ""},
		{"Case", "jo BLOGGS", "Jo Bloggs", ""},
		{"Spaces", "  Jo   Bloggs ", "Jo  Bloggs", ""},
		{"Accents", "Zoe O Suilleabhain", "Zoë Ó Súilleabháin", ""},
		{"AccentsTyped", "Zoë Ó Súilleabháin", "Zoe O Suilleabhain", ""},
		{"Apostrophe", "Siobhan O’Brien", "Siobhan O'Brien", ""},
		{"TwoLetters", "Al", "AL", ""},
		{"Different", "Joe Bloggs", "Jo Bloggs", "Type your full name as it is recorded: Jo Bloggs"},
		{"FirstNameOnly", "Jo", "Jo  Bloggs", "Type your full name as it is recorded: Jo Bloggs"},
		{"Empty", "   ", "Jo Bloggs", "Type your full name to sign."},
		{"OneLetter", "J", "J", "at least 2 characters"},
		{"TooLong", strings.Repeat("a", 201), strings.Repeat("a", 201), "at most 200 characters"},
		{"NoLetter", "12 34", "12 34", "in letters"},
		{"Control", "Jo\tBloggs", "Jo Bloggs", "control characters"},
		{"Newline", "Jo Bloggs\n", "Jo Bloggs", "control characters"},
		{"NotRecorded", "Jo Bloggs", " ", "has not recorded your name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSignature(tc.fullName, tc.recorded)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckSignature(%q, %q) = %q, want nil", tc.fullName, tc.recorded, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckSignature(%q, %q) = %v, want %q", tc.fullName, tc.recorded, err, tc.want)
			}
		})
	}
}
