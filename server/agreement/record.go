package agreement

import (
	"fmt"
	"time"

	"github.com/signintech/gopdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
)

// Record is a printable record for a file, such as a leaver's exit
// check-in for their personnel file: a title, the school, sections of
// label and value rows, laid out as the agreements are.
type Record struct {
	Title    string
	School   string
	Sections []Section
	// At is when the record was made; it dates the PDF, which is the
	// same bytes for the same record.
	At time.Time
	// Footer names the record at the foot of each page.
	Footer string
}

// Section is a heading and its rows.
type Section struct {
	Heading string
	Rows    [][2]string // label, value
}

// PDF renders the record.
func (r Record) PDF() ([]byte, error) {
	at := londonTime(r.At)
	gp := new(gopdf.GoPdf)
	gp.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4, Unit: gopdf.UnitPT})
	missing := gopdf.TtfOption{OnGlyphNotFoundSubstitute: func(rune) rune { return '?' }}
	if err := gp.AddTTFFontDataWithOption("regular", goregular.TTF, missing); err != nil {
		return nil, fmt.Errorf("add font: %w", err)
	}
	if err := gp.AddTTFFontDataWithOption("bold", gobold.TTF, missing); err != nil {
		return nil, fmt.Errorf("add font: %w", err)
	}
	gp.SetInfo(gopdf.PdfInfo{Title: r.Title, Author: "Rollcall", Subject: r.Footer, Creator: "Rollcall", CreationDate: at})
	l := &layout{gp: gp}
	l.newPage()
	if err := l.para(titleStyle, r.Title, marginX, textW); err != nil {
		return nil, err
	}
	if r.School != "" {
		if err := l.para(schoolStyle, r.School, marginX, textW); err != nil {
			return nil, err
		}
	}
	for _, sec := range r.Sections {
		l.y += 14
		l.keep(headingStyle.lead + 2*(labelStyle.lead+bodyStyle.lead))
		if err := l.para(headingStyle, sec.Heading, marginX, textW); err != nil {
			return nil, err
		}
		for _, row := range sec.Rows {
			l.keep(labelStyle.lead + bodyStyle.lead)
			if err := l.para(labelStyle, row[0], marginX, textW); err != nil {
				return nil, err
			}
			v := row[1]
			if v == "" {
				v = NotRecorded
			}
			if err := l.para(bodyStyle, v, marginX, textW); err != nil {
				return nil, err
			}
			l.y += 4
		}
	}
	for i, p := range l.pages {
		gp.AddPage()
		for _, t := range p.texts {
			if err := l.draw(t); err != nil {
				return nil, err
			}
		}
		foot := fmt.Sprintf("Page %d of %d", i+1, len(l.pages))
		w, err := l.width(footerStyle, foot)
		if err != nil {
			return nil, err
		}
		if err := l.draw(textOp{footerStyle, pageW - marginX - w, footerY, foot}); err != nil {
			return nil, err
		}
		if err := l.draw(textOp{footerStyle, marginX, footerY, r.Footer}); err != nil {
			return nil, err
		}
	}
	b, err := gp.GetBytesPdfReturnErr()
	if err != nil {
		return nil, fmt.Errorf("write pdf: %w", err)
	}
	return b, nil
}
