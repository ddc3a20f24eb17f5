package agreement

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Signature is what the borrower gives when signing.
type Signature struct {
	FullName string // typed by the borrower
	SignedAt time.Time
	Address  string // client IP address
}

// Signed is a filled template signed by a borrower: what is stored forever.
type Signed struct {
	Template        Template // already filled
	TemplateVersion int
	Signature       Signature
	// School is the school's name, printed under the title. It is optional:
	// Fill does not set it.
	School string
}

// Text returns the exact text signed: the title, the school when set, the
// body, each declaration marked as ticked ("[x] ..."), then the signature:
// the full name, the time signed in UTC to the second, the address and the
// template version. Line endings are "\n", control characters are dropped,
// and the same input always gives the same bytes. A SignedAt that has lost
// its fraction of a second in storage gives the same text.
func (s Signed) Text() string {
	c := s.clean()
	var b strings.Builder
	b.WriteString(c.Template.Title + "\n")
	if c.School != "" {
		b.WriteString(c.School + "\n")
	}
	b.WriteString("\n" + c.Template.Body + "\n\n")
	for _, d := range c.Template.Declarations {
		b.WriteString("[x] " + d + "\n")
	}
	b.WriteString("\n")
	b.WriteString("Signed by: " + c.Signature.FullName + "\n")
	b.WriteString("Signed at: " + c.Signature.SignedAt.Format(time.RFC3339) + "\n")
	b.WriteString("Address: " + c.Signature.Address + "\n")
	b.WriteString("Template version: " + strconv.Itoa(c.TemplateVersion) + "\n")
	return b.String()
}

// Digest returns the lower-case hex SHA-256 of [Signed.Text].
func (s Signed) Digest() string {
	sum := sha256.Sum256([]byte(s.Text()))
	return hex.EncodeToString(sum[:])
}

// clean returns s as Text and PDF show it: the body with "\n" line endings,
// no trailing spaces and no control characters; every other string on one
// line; SignedAt in UTC, to the second.
func (s Signed) clean() Signed {
	c := Signed{
		Template: Template{
			Title: oneLine(s.Template.Title),
			Body:  cleanBody(s.Template.Body),
		},
		TemplateVersion: s.TemplateVersion,
		Signature: Signature{
			FullName: oneLine(s.Signature.FullName),
			SignedAt: s.Signature.SignedAt.UTC().Truncate(time.Second),
			Address:  oneLine(s.Signature.Address),
		},
		School: oneLine(s.School),
	}
	for _, d := range s.Template.Declarations {
		c.Template.Declarations = append(c.Template.Declarations, oneLine(d))
	}
	return c
}

// oneLine returns s with control characters dropped and runs of white
// space made single spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(dropControl, s)), " ")
}

func cleanBody(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRightFunc(strings.Map(dropControl, l), unicode.IsSpace)
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

// dropControl maps a tab to a space and drops every other control
// character but the newline.
func dropControl(r rune) rune {
	switch {
	case r == '\n':
		return r
	case r == '\t':
		return ' '
	case unicode.IsControl(r):
		return -1
	}
	return r
}

// CheckSignature validates the full name a borrower typed to sign: it must
// be 2 to 200 characters, contain a letter, have no control characters, and
// match borrowerName, the name the school recorded, ignoring case, accents
// and extra white space. The errors are for the borrower to read.
func CheckSignature(fullName, borrowerName string) error {
	recorded := strings.Join(strings.Fields(borrowerName), " ")
	for _, r := range fullName {
		if unicode.IsControl(r) {
			return errors.New("Your name must not contain tabs, line breaks or other control characters.")
		}
	}
	name := strings.Join(strings.Fields(fullName), " ")
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return errors.New("Type your full name to sign.")
	case n < 2:
		return errors.New("Type your full name: at least 2 characters.")
	case n > 200:
		return errors.New("Your name is too long: at most 200 characters.")
	}
	if strings.IndexFunc(name, unicode.IsLetter) < 0 {
		return errors.New("Type your full name in letters.")
	}
	if recorded == "" {
		return errors.New("The school has not recorded your name, so you cannot sign yet. Please ask the school office.")
	}
	if fold(name) != fold(recorded) {
		return fmt.Errorf("Type your full name as it is recorded: %s", recorded)
	}
	return nil
}

// fold returns s lower-cased, without accents and with typographic
// apostrophes made plain, for comparing names.
func fold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r == '’' || r == '‘' || r == 'ʼ':
			b.WriteRune('\'')
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}
