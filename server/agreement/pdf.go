package agreement

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/signintech/gopdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
)

// A4 in points, and the layout of a page.
const (
	pageW, pageH = 595.28, 841.89
	marginX      = 64.0
	marginTop    = 64.0
	textBottom   = pageH - 72 // the last baseline of the text
	footerY      = pageH - 40 // the baseline of the footer
	textW        = pageW - 2*marginX
	boxIndent    = 20.0 // of a declaration's text, right of its box
)

// style is a font, size and colour.
type style struct {
	font string
	size float64
	lead float64 // line height
	grey bool
}

var (
	titleStyle   = style{font: "bold", size: 18, lead: 24}
	schoolStyle  = style{font: "regular", size: 12, lead: 16, grey: true}
	headingStyle = style{font: "bold", size: 12, lead: 17}
	bodyStyle    = style{font: "regular", size: 10.5, lead: 15}
	labelStyle   = style{font: "regular", size: 9, lead: 13, grey: true}
	footerStyle  = style{font: "regular", size: 8, lead: 10, grey: true}
)

// textOp is a line of text at a baseline; tickOp a ticked box whose top
// left corner is at x, y.
type (
	textOp struct {
		st   style
		x, y float64
		s    string
	}
	tickOp struct{ x, y float64 }
	page   struct {
		texts []textOp
		ticks []tickOp
	}
)

// layout places text on pages before any is drawn, so that the footer can
// say how many pages there are.
type layout struct {
	gp    *gopdf.GoPdf
	pages []*page
	y     float64 // the top of the next line
}

// PDF renders the signed agreement on A4: the title, the school, the body,
// the declarations each with a ticked box, and a signature block with the
// typed full name, the time signed (Europe/London), the address, the
// template version and the full SHA-256 of [Signed.Text]; every page has a
// footer with its number. The PDF info names the title, "Rollcall" as
// author and the SHA-256 in the subject. The same Signed always gives the
// same bytes: the creation date is SignedAt and nothing else varies.
func (s Signed) PDF() ([]byte, error) {
	c := s.clean()
	digest := s.Digest()
	signedAt := londonTime(c.Signature.SignedAt)

	gp := new(gopdf.GoPdf)
	gp.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4, Unit: gopdf.UnitPT})
	missing := gopdf.TtfOption{OnGlyphNotFoundSubstitute: func(rune) rune { return '?' }}
	if err := gp.AddTTFFontDataWithOption("regular", goregular.TTF, missing); err != nil {
		return nil, fmt.Errorf("add font: %w", err)
	}
	if err := gp.AddTTFFontDataWithOption("bold", gobold.TTF, missing); err != nil {
		return nil, fmt.Errorf("add font: %w", err)
	}
	gp.SetInfo(gopdf.PdfInfo{
		Title:        c.Template.Title,
		Author:       "Rollcall",
		Subject:      "Signed loan agreement, SHA-256 " + digest,
		Creator:      "Rollcall",
		CreationDate: signedAt,
	})

	l := &layout{gp: gp}
	l.newPage()
	if err := l.document(c, digest, signedAt); err != nil {
		return nil, err
	}

	for i, p := range l.pages {
		gp.AddPage()
		for _, t := range p.texts {
			if err := l.draw(t); err != nil {
				return nil, err
			}
		}
		for _, t := range p.ticks {
			drawTick(gp, t)
		}
		foot := fmt.Sprintf("Page %d of %d", i+1, len(l.pages))
		w, err := l.width(footerStyle, foot)
		if err != nil {
			return nil, err
		}
		if err := l.draw(textOp{footerStyle, pageW - marginX - w, footerY, foot}); err != nil {
			return nil, err
		}
		if err := l.draw(textOp{footerStyle, marginX, footerY, "Loan agreement, SHA-256 " + digest[:16] + "…"}); err != nil {
			return nil, err
		}
	}
	b, err := gp.GetBytesPdfReturnErr()
	if err != nil {
		return nil, fmt.Errorf("write pdf: %w", err)
	}
	return b, nil
}

// document lays out the whole agreement.
func (l *layout) document(c Signed, digest string, signedAt time.Time) error {
	if err := l.para(titleStyle, c.Template.Title, marginX, textW); err != nil {
		return err
	}
	if c.School != "" {
		if err := l.para(schoolStyle, c.School, marginX, textW); err != nil {
			return err
		}
	}
	l.y += 14

	for _, p := range paragraphs(c.Template.Body) {
		st := bodyStyle
		if isHeading(p) {
			st = headingStyle
			l.keep(st.lead + 2*bodyStyle.lead) // a heading is not left alone at the foot of a page
		}
		for _, line := range p {
			if err := l.para(st, line, marginX, textW); err != nil {
				return err
			}
		}
		l.y += 7
	}

	l.y += 7
	l.keep(headingStyle.lead + 2*bodyStyle.lead)
	if err := l.para(headingStyle, "Declarations", marginX, textW); err != nil {
		return err
	}
	l.y += 3
	for _, d := range c.Template.Declarations {
		lines, err := l.wrap(bodyStyle, d, textW-boxIndent)
		if err != nil {
			return err
		}
		l.keep(float64(len(lines)) * bodyStyle.lead)
		p := l.pages[len(l.pages)-1]
		p.ticks = append(p.ticks, tickOp{marginX, l.y + 2.5})
		l.lines(bodyStyle, lines, marginX+boxIndent)
		l.y += 5
	}

	sig := c.Signature
	rows := []struct{ label, value string }{
		{"Full name, as typed by the borrower", sig.FullName},
		{"Signed", signedAt.Format("2 January 2006 at 15:04 MST")},
		{"From address", sig.Address},
		{"Agreement template version", templateVersion(c.TemplateVersion)},
		{"SHA-256 of the exact text signed", digest},
	}
	l.y += 14
	l.keep(headingStyle.lead + float64(len(rows))*(labelStyle.lead+bodyStyle.lead+4))
	if err := l.para(headingStyle, "Signature", marginX, textW); err != nil {
		return err
	}
	for _, r := range rows {
		if err := l.para(labelStyle, r.label, marginX, textW); err != nil {
			return err
		}
		v := r.value
		if v == "" {
			v = NotRecorded
		}
		if err := l.para(bodyStyle, v, marginX, textW); err != nil {
			return err
		}
		l.y += 4
	}
	return nil
}

// templateVersion describes a template version for the signature block.
func templateVersion(v int) string {
	if v == 0 {
		return "0 (Rollcall's default agreement)"
	}
	return strconv.Itoa(v)
}

// paragraphs splits a cleaned body at blank lines into paragraphs of lines.
func paragraphs(body string) [][]string {
	var out [][]string
	var cur []string
	for _, line := range strings.Split(body, "\n") {
		if strings.TrimSpace(line) == "" {
			if cur != nil {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, line)
	}
	if cur != nil {
		out = append(out, cur)
	}
	return out
}

// isHeading reports whether a paragraph is one short line that does not end
// in punctuation.
func isHeading(p []string) bool {
	if len(p) != 1 || utf8.RuneCountInString(p[0]) > 60 {
		return false
	}
	last, _ := utf8.DecodeLastRuneInString(p[0])
	return !unicode.IsPunct(last)
}

func (l *layout) newPage() {
	l.pages = append(l.pages, &page{})
	l.y = marginTop
}

// keep starts a new page unless height fits below the current line.
func (l *layout) keep(height float64) {
	if l.y+height > textBottom && l.y > marginTop {
		l.newPage()
	}
}

// para wraps s to width and lays out its lines from x.
func (l *layout) para(st style, s string, x, width float64) error {
	lines, err := l.wrap(st, s, width)
	if err != nil {
		return err
	}
	l.lines(st, lines, x)
	return nil
}

// lines lays out lines from x, starting new pages as needed.
func (l *layout) lines(st style, lines []string, x float64) {
	for _, line := range lines {
		l.keep(st.lead)
		p := l.pages[len(l.pages)-1]
		p.texts = append(p.texts, textOp{st, x, l.y + st.size, line})
		l.y += st.lead
	}
}

// wrap breaks s into lines no wider than width, between words where it can
// and inside a word too long for a line.
func (l *layout) wrap(st style, s string, width float64) ([]string, error) {
	space, err := l.width(st, " ")
	if err != nil {
		return nil, err
	}
	var lines []string
	var line string
	var lineW float64
	for _, word := range strings.Fields(s) {
		w, err := l.width(st, word)
		if err != nil {
			return nil, err
		}
		switch {
		case line != "" && lineW+space+w <= width:
			line, lineW = line+" "+word, lineW+space+w
			continue
		case line != "":
			lines = append(lines, line)
		}
		line, lineW = "", 0
		for w > width { // a word longer than a line is broken where it must be
			var head string
			var headW float64
			for _, r := range word {
				rw, err := l.width(st, string(r))
				if err != nil {
					return nil, err
				}
				if head != "" && headW+rw > width {
					break
				}
				head, headW = head+string(r), headW+rw
			}
			lines = append(lines, head)
			word = word[len(head):]
			w -= headW
		}
		line, lineW = word, w
	}
	if line != "" || len(lines) == 0 {
		lines = append(lines, line)
	}
	return lines, nil
}

// width measures s in style st.
func (l *layout) width(st style, s string) (float64, error) {
	if err := l.gp.SetFont(st.font, "", st.size); err != nil {
		return 0, fmt.Errorf("set font: %w", err)
	}
	w, err := l.gp.MeasureTextWidth(s)
	if err != nil {
		return 0, fmt.Errorf("measure text: %w", err)
	}
	return w, nil
}

// draw writes t on the current page.
func (l *layout) draw(t textOp) error {
	if err := l.gp.SetFont(t.st.font, "", t.st.size); err != nil {
		return fmt.Errorf("set font: %w", err)
	}
	if t.st.grey {
		l.gp.SetTextColor(90, 90, 90)
	} else {
		l.gp.SetTextColor(0, 0, 0)
	}
	l.gp.SetXY(t.x, t.y)
	if err := l.gp.Text(t.s); err != nil {
		return fmt.Errorf("write text: %w", err)
	}
	return nil
}

// drawTick draws a box 10 points square with a tick in it.
func drawTick(gp *gopdf.GoPdf, t tickOp) {
	gp.SetStrokeColor(0, 0, 0)
	gp.SetLineWidth(0.8)
	gp.RectFromUpperLeftWithStyle(t.x, t.y, 10, 10, "D")
	gp.SetLineWidth(1.4)
	gp.Line(t.x+2, t.y+5.2, t.x+4.2, t.y+7.6)
	gp.Line(t.x+4.2, t.y+7.6, t.x+8.4, t.y+2.2)
}

// londonTime returns t in Europe/London. Where the time zone database is
// missing, it applies the UK rule in force since 1996: BST, an hour ahead
// of GMT, from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
// last Sunday of October.
func londonTime(t time.Time) time.Time {
	if loc, err := london(); err == nil {
		return t.In(loc)
	}
	return ukTime(t)
}

var london = sync.OnceValues(func() (*time.Location, error) { return time.LoadLocation("Europe/London") })

// ukTime returns t in UK time by the rule in force since 1996.
func ukTime(t time.Time) time.Time {
	u := t.UTC()
	lastSunday := func(m time.Month) time.Time {
		d := time.Date(u.Year(), m+1, 0, 1, 0, 0, 0, time.UTC) // the last day of m, 01:00
		return d.AddDate(0, 0, -int(d.Weekday()))
	}
	if !u.Before(lastSunday(time.March)) && u.Before(lastSunday(time.October)) {
		return u.In(time.FixedZone("BST", 3600))
	}
	return u.In(time.FixedZone("GMT", 0))
}

// Block is one paragraph of a template's body as pages show it: its
// lines, and whether it is a heading (one short line without closing
// punctuation), laid out as the PDF lays it out.
type Block struct {
	Heading bool
	Lines   []string
}

// Blocks returns the body's paragraphs.
func (t Template) Blocks() []Block {
	var out []Block
	for _, p := range paragraphs(t.Body) {
		out = append(out, Block{Heading: isHeading(p), Lines: p})
	}
	return out
}
