package agreement

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on a template, checked by [Template.Check].
const (
	MaxDeclarations = 20
	MaxChars        = 20000 // title, body and declarations together
)

// NotRecorded is what [Template.Fill] writes for a placeholder whose value
// is missing.
const NotRecorded = "(not recorded)"

// Template is an agreement a school's headteacher writes: a title, a body with
// placeholders, and declarations the borrower ticks one by one.
//
// A placeholder is a name in braces, such as {make}; a literal brace is
// written {{ or }}. In the PDF, a paragraph of one short line that does not
// end in punctuation is printed as a heading.
type Template struct {
	Title        string
	Body         string   // paragraphs separated by a blank line; placeholders like {make}
	Declarations []string // each may hold placeholders too
}

// Fields are the values placeholders are filled with.
type Fields struct {
	School, Borrower, BorrowerEmail     string
	Kind, Make, Model, Serial, AssetTag string
	Accessories                         string
	Reason                              string
	ExpectedReturn                      string // already formatted by the caller, e.g. "24 July 2027"; "" when open-ended
	CheckInterval                       string // e.g. "every 6 weeks"
}

// Placeholder is a name a template may use in braces, with a line of help
// for the template editor page.
type Placeholder struct{ Name, Help string }

// placeholders lists every placeholder with where its value comes from.
var placeholders = []struct {
	Placeholder
	value func(Fields) string
}{
	{Placeholder{"school", "The school's name."}, func(f Fields) string { return f.School }},
	{Placeholder{"borrower", "The borrower's full name, as recorded by the school."}, func(f Fields) string { return f.Borrower }},
	{Placeholder{"borrower_email", "The borrower's email address."}, func(f Fields) string { return f.BorrowerEmail }},
	{Placeholder{"kind", "What the equipment is, such as laptop or iPad."}, func(f Fields) string { return f.Kind }},
	{Placeholder{"make", "The maker, such as Dell or Apple."}, func(f Fields) string { return f.Make }},
	{Placeholder{"model", "The model, such as Latitude 5440."}, func(f Fields) string { return f.Model }},
	{Placeholder{"serial", "The maker's serial number."}, func(f Fields) string { return f.Serial }},
	{Placeholder{"asset_tag", "The school's asset tag on the equipment."}, func(f Fields) string { return f.AssetTag }},
	{Placeholder{"accessories", "What is lent with it, such as a charger and a case."}, func(f Fields) string { return f.Accessories }},
	{Placeholder{"reason", "Why the equipment is lent, as given in the request."}, func(f Fields) string { return f.Reason }},
	{Placeholder{"expected_return", "The date it is due back, such as 24 July 2027; \"" + NotRecorded + "\" when the loan has no end date."}, func(f Fields) string { return f.ExpectedReturn }},
	{Placeholder{"check_interval", "How often it must come in to be checked and updated, such as every 6 weeks."}, func(f Fields) string { return f.CheckInterval }},
}

// Placeholders lists the placeholder names a template may use, each with a
// one-line description for the template editor page.
func Placeholders() []Placeholder {
	out := make([]Placeholder, len(placeholders))
	for i, p := range placeholders {
		out[i] = p.Placeholder
	}
	return out
}

// Check reports problems in a template: an empty title or body, no
// declarations or more than [MaxDeclarations], an empty declaration, an
// unknown placeholder, an unmatched brace, or more than [MaxChars]
// characters. The error's message is for a headteacher to read, one problem
// a line; Check returns nil when there is nothing wrong.
func (t Template) Check() error {
	var problems []string
	unknown := false
	scan := func(where, s string) {
		toks, bad := tokenize(s)
		for _, b := range bad {
			problems = append(problems, where+" "+b)
		}
		for _, tok := range toks {
			if !tok.placeholder || known(tok.text) {
				continue
			}
			unknown = true
			msg := fmt.Sprintf("%s uses an unknown placeholder “%s”.", where, shorten(tok.raw, 40))
			if s := suggest(tok.text); s != "" {
				msg += fmt.Sprintf(" Did you mean “{%s}”?", s)
			}
			problems = append(problems, msg)
		}
	}

	if strings.TrimSpace(t.Title) == "" {
		problems = append(problems, "The title is empty.")
	}
	scan("The title", t.Title)
	if strings.TrimSpace(t.Body) == "" {
		problems = append(problems, "The body is empty.")
	}
	scan("The body", t.Body)
	switch n := len(t.Declarations); {
	case n == 0:
		problems = append(problems, "There are no declarations for the borrower to tick: add at least one.")
	case n > MaxDeclarations:
		problems = append(problems, fmt.Sprintf("There are %d declarations; the most allowed is %d.", n, MaxDeclarations))
	}
	for i, d := range t.Declarations {
		where := fmt.Sprintf("Declaration %d", i+1)
		if strings.TrimSpace(d) == "" {
			problems = append(problems, where+" is empty.")
		}
		scan(where, d)
	}
	if n := t.chars(); n > MaxChars {
		problems = append(problems, fmt.Sprintf("The agreement is %s characters long; the most allowed is %s. Please shorten it.",
			thousands(n), thousands(MaxChars)))
	}
	if unknown {
		names := make([]string, len(placeholders))
		for i, p := range placeholders {
			names[i] = "{" + p.Name + "}"
		}
		problems = append(problems, "The placeholders you can use are "+strings.Join(names, ", ")+".")
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "\n"))
}

// chars counts the characters of the title, body and declarations.
func (t Template) chars() int {
	n := utf8.RuneCountInString(t.Title) + utf8.RuneCountInString(t.Body)
	for _, d := range t.Declarations {
		n += utf8.RuneCountInString(d)
	}
	return n
}

// Fill returns the template with every placeholder replaced by its value
// from f, and {{ and }} by single braces. A missing value is rendered as
// [NotRecorded]. Values are inserted as they are, with runs of white space
// made single spaces, and are not read for placeholders themselves. An
// unknown placeholder or unmatched brace, which [Template.Check] reports, is
// left as written.
func (t Template) Fill(f Fields) Template {
	out := Template{
		Title: fill(t.Title, f),
		Body:  fill(t.Body, f),
	}
	if t.Declarations != nil {
		out.Declarations = make([]string, len(t.Declarations))
		for i, d := range t.Declarations {
			out.Declarations[i] = fill(d, f)
		}
	}
	return out
}

func fill(s string, f Fields) string {
	toks, _ := tokenize(s)
	var b strings.Builder
	for _, tok := range toks {
		if !tok.placeholder {
			b.WriteString(tok.text)
			continue
		}
		v, ok := value(tok.text, f)
		switch {
		case !ok:
			b.WriteString(tok.raw)
		case v == "":
			b.WriteString(NotRecorded)
		default:
			b.WriteString(v)
		}
	}
	return b.String()
}

// value returns the cleaned value of the named placeholder, and whether the
// name is known.
func value(name string, f Fields) (string, bool) {
	for _, p := range placeholders {
		if p.Name == name {
			return strings.Join(strings.Fields(p.value(f)), " "), true
		}
	}
	return "", false
}

func known(name string) bool {
	_, ok := value(name, Fields{})
	return ok
}

// token is a run of literal text or a placeholder.
type token struct {
	text        string // the literal text, or the placeholder's name
	raw         string // the placeholder as written, braces included
	placeholder bool
}

// tokenize splits s into literal text, with {{ and }} made single braces,
// and placeholders, whose names are trimmed and lower-cased. An unmatched
// brace is kept as literal text and described in problems, each a sentence
// that follows the name of where s is ("The body").
func tokenize(s string) (toks []token, problems []string) {
	const tip = " To show a brace itself, write {{ or }}."
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, token{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			lit.WriteByte('{')
			i += 2
		case strings.HasPrefix(s[i:], "}}"):
			lit.WriteByte('}')
			i += 2
		case s[i] == '{':
			end := strings.IndexAny(s[i+1:], "{}")
			if end < 0 || s[i+1+end] == '{' {
				problems = append(problems, fmt.Sprintf("has a “{” that is never closed, near “%s”.%s", near(s, i), tip))
				lit.WriteByte('{')
				i++
				continue
			}
			flush()
			raw := s[i : i+end+2]
			toks = append(toks, token{
				text:        strings.ToLower(strings.TrimSpace(raw[1 : len(raw)-1])),
				raw:         raw,
				placeholder: true,
			})
			i += len(raw)
		case s[i] == '}':
			problems = append(problems, fmt.Sprintf("has a “}” with no “{” before it, near “%s”.%s", near(s, i), tip))
			lit.WriteByte('}')
			i++
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	flush()
	return toks, problems
}

// near returns the text around byte i of s, on one line, to show where a
// problem is.
func near(s string, i int) string {
	start, end := max(i-20, 0), min(i+20, len(s))
	for start > 0 && !utf8.RuneStart(s[start]) {
		start--
	}
	for end < len(s) && !utf8.RuneStart(s[end]) {
		end++
	}
	return strings.Join(strings.Fields(s[start:end]), " ")
}

// shorten cuts s to at most n characters, on one line.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// suggest returns the known placeholder name closest to name, or "" when
// none is close.
func suggest(name string) string {
	best, bestDist := "", 3
	for _, p := range placeholders {
		d := distance(name, p.Name)
		if d < bestDist {
			best, bestDist = p.Name, d
		}
	}
	if best == "" && len(name) >= 3 {
		for _, p := range placeholders {
			if strings.Contains(p.Name, name) {
				return p.Name
			}
		}
	}
	return best
}

// distance returns the Levenshtein distance between a and b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// thousands formats n with commas, as in 20,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
