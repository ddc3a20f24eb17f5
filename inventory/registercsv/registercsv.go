package registercsv

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rollcall/rollcall/inventory"
)

// Limits of a file that [Parse] reads.
const (
	MaxBytes = 10 << 20 // 10 MiB
	MaxRows  = 20000    // data lines
)

// ErrNoKind is the error [Parse] returns for a file with no Kind or
// Category column when [Options.DefaultKind] is empty. A caller can offer
// a choice of kind for the whole file and parse it again.
var ErrNoKind = inventory.Errorf(inventory.EINVALID,
	"no Category column: add one (%s), or choose the kind of every item in the file", kindList())

// Row is one valid line of an import: a line with no [Problem].
type Row struct {
	// Line is the 1-based line in the file where the row starts. The
	// header is line 1, and lines are physical lines, so a quoted field
	// with line breaks moves later rows down.
	Line int
	// Asset is the line's entry, with SchoolID and ID left zero. Status
	// is in_stock when the file has none, and Kind comes from the Kind or
	// Category column or [Options.DefaultKind].
	Asset inventory.Asset
}

// Problem is one thing wrong with one line.
type Problem struct {
	Line int `json:"line"`
	// Column is the header of the cell at fault, as written in the file
	// (such as "Purchase Date"), or "" for a problem with the whole row.
	Column string `json:"column"`
	// Message says what is wrong for a technician, such as
	// `"31/02/2024" is not a date: use dd/mm/yyyy or yyyy-mm-dd`.
	Message string `json:"message"`
}

// Result is a parsed import.
type Result struct {
	// Rows are the lines with no problem, in file order.
	Rows []Row
	// Problems are sorted by line, then by the column's place in the
	// file, with problems of the whole row first.
	Problems []Problem
	// Columns is the header as read, with spaces at either end removed.
	Columns []string
	// Ignored lists the columns that are not imported, in file order.
	// An unnamed column with data in it is listed as "Column F".
	Ignored []string
	// Lines counts the data lines read, not counting the header or blank
	// lines. It is len(Rows) plus the number of lines with problems.
	Lines int
	// Comma is the field separator found: ',' or ';'.
	Comma rune
}

// BadLines returns the lines with at least one problem, in order.
func (r *Result) BadLines() []int {
	var lines []int
	for _, p := range r.Problems {
		if len(lines) == 0 || lines[len(lines)-1] != p.Line {
			lines = append(lines, p.Line)
		}
	}
	return lines
}

// Assets returns pointers to the assets of r.Rows, in order, ready for
// [inventory.RegisterStore.ImportAssets] once the caller sets SchoolID.
// Entry i of the list is from line r.Rows[i].Line.
func (r *Result) Assets() []*inventory.Asset {
	list := make([]*inventory.Asset, len(r.Rows))
	for i := range r.Rows {
		list[i] = &r.Rows[i].Asset
	}
	return list
}

// Options adjusts [Parse].
type Options struct {
	// DefaultKind is the kind of a row whose Kind or Category cell is
	// empty, or of every row when the file has no such column. When it is
	// "", such rows are problems, and a file without the column is
	// refused with [ErrNoKind].
	DefaultKind inventory.AssetKind
}

// Parse reads a CSV register; the package comment describes the columns
// and values it accepts. It returns an error only when the file as a whole
// can't be used: an EINVALID [inventory.Error] saying why (or [ErrNoKind]),
// or the error from reading r, wrapped. Everything else is a [Problem] in
// the result, and Parse reads every line to report them all.
func Parse(r io.Reader, o Options) (*Result, error) {
	if o.DefaultKind != "" {
		k, err := inventory.ParseAssetKind(string(o.DefaultKind))
		if err != nil {
			return nil, err
		}
		o.DefaultKind = k
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read csv: %w", err)
	}
	if err := checkText(data); err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errEmpty
	}

	p := &parser{opts: o, res: &Result{Comma: detectComma(data)}, bad: map[int]bool{}, seen: [2]map[string]int{{}, {}}}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = p.res.Comma
	cr.FieldsPerRecord = -1 // a ragged row is a problem on its line, not the end
	cr.TrimLeadingSpace = true
	if err := p.readHeader(cr); err != nil {
		return nil, err
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if err := p.count(); err != nil {
				return nil, err
			}
			p.problem(pe.StartLine, -1, quoteMessage(pe))
			continue
		} else if err != nil {
			return nil, fmt.Errorf("read csv: %w", err)
		}
		if blank(rec) {
			continue
		}
		if err := p.count(); err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		p.row(line, rec)
	}
	return p.finish(), nil
}

var errEmpty = inventory.Errorf(inventory.EINVALID,
	"the file is empty: it needs a row of column names, then a row for each item")

// checkText refuses data that is too large or is not UTF-8 text, saying
// what it looks like instead.
func checkText(data []byte) error {
	const saveAs = `save it as CSV UTF-8 (in Excel: File > Save As, "CSV UTF-8 (Comma delimited)")`
	switch {
	case len(data) > MaxBytes:
		return inventory.Errorf(inventory.EINVALID, "the file is larger than %d MiB: split it into smaller files", MaxBytes>>20)
	case bytes.HasPrefix(data, []byte("PK\x03\x04")), bytes.HasPrefix(data, []byte("\xD0\xCF\x11\xE0")):
		return inventory.Errorf(inventory.EINVALID, "this is an Excel workbook, not a CSV file: %s", saveAs)
	case bytes.HasPrefix(data, []byte("\xFF\xFE")), bytes.HasPrefix(data, []byte("\xFE\xFF")):
		return inventory.Errorf(inventory.EINVALID, "the file is UTF-16 text (Excel's \"Unicode Text\"): %s", saveAs)
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		start := bytes.LastIndexByte(data[:off], '\n') + 1
		line := bytes.Count(data[:off], []byte("\n")) + 1
		char := utf8.RuneCount(data[start:off]) + 1
		return inventory.Errorf(inventory.EINVALID,
			"the file is not UTF-8 text: line %d has the byte 0x%02X at character %d (a £ sign or accented letter saved in another encoding); %s",
			line, data[off], char, saveAs)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return inventory.Errorf(inventory.EINVALID,
			"the file has a NUL byte on line %d, so it is not CSV text: %s", bytes.Count(data[:i], []byte("\n"))+1, saveAs)
	}
	return nil
}

// detectComma returns ';' when the first non-blank line has more
// semicolons than commas outside quotes, and ',' otherwise.
func detectComma(data []byte) rune {
	commas, semis := 0, 0
	quoted, content := false, false
	for _, b := range data {
		switch {
		case b == '"':
			quoted = !quoted
		case quoted:
		case b == ',':
			commas++
		case b == ';':
			semis++
		case b == '\n' && content:
			return pick(commas, semis)
		}
		if b != '\n' && b != '\r' && b != ' ' && b != '\t' {
			content = true
		}
	}
	return pick(commas, semis)
}

func pick(commas, semis int) rune {
	if semis > commas {
		return ';'
	}
	return ','
}

// quoteMessage explains a CSV syntax error for a technician.
func quoteMessage(pe *csv.ParseError) string {
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return `a " is inside a field that is not in quotes: put the whole field in double quotes and write each " inside it twice`
	case pe.Line > pe.StartLine:
		return fmt.Sprintf(`a field in quotes that starts on this line does not end properly (the error is on line %d): check for a missing or stray "`, pe.Line)
	}
	return `a field in quotes does not end properly: check for a missing or stray ", and write each " inside quotes twice`
}

// blank reports whether every cell of rec is empty or spaces.
func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// parser holds the state of one [Parse].
type parser struct {
	opts   Options
	res    *Result
	cols   [numFields][]int // column indexes of each field, best first
	filled []bool           // whether an ignored, unnamed column has data
	probs  []problem
	bad    map[int]bool      // lines with problems
	seen   [2]map[string]int // lower-cased serial, asset tag → first line
}

// problem is a Problem with the place of its column (-1 for the row).
type problem struct {
	Problem
	col int
}

func (p *parser) problem(line, col int, msg string) {
	name := ""
	if col >= 0 {
		name = p.res.Columns[col]
	}
	p.probs = append(p.probs, problem{Problem{Line: line, Column: name, Message: msg}, col})
	p.bad[line] = true
}

// count counts a data line, refusing the file past MaxRows.
func (p *parser) count() error {
	p.res.Lines++
	if p.res.Lines > MaxRows {
		return inventory.Errorf(inventory.EINVALID,
			"the file has more than %s rows: split it into smaller files", thousands(MaxRows))
	}
	return nil
}

func (p *parser) finish() *Result {
	slices.SortStableFunc(p.probs, func(a, b problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.col, b.col))
	})
	for _, pr := range p.probs {
		p.res.Problems = append(p.res.Problems, pr.Problem)
	}
	for i, h := range p.res.Columns {
		if h == "" && p.filled[i] {
			p.res.Ignored = append(p.res.Ignored, "Column "+columnLetters(i))
		} else if h != "" && fieldOf(h) == fNone {
			p.res.Ignored = append(p.res.Ignored, h)
		}
	}
	return p.res
}

// readHeader reads the first non-blank row and maps its columns.
func (p *parser) readHeader(cr *csv.Reader) error {
	var rec []string
	for {
		var err error
		rec, err = cr.Read()
		if err == io.EOF {
			return errEmpty
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return inventory.Errorf(inventory.EINVALID, "line %d: the column names can't be read: %s", pe.StartLine, quoteMessage(pe))
		} else if err != nil {
			return fmt.Errorf("read csv: %w", err)
		}
		if !blank(rec) {
			break
		}
	}
	p.res.Columns = make([]string, len(rec))
	p.filled = make([]bool, len(rec))
	type place struct{ rank, col int }
	var places [numFields][]place
	byName := map[string]int{}
	for i, h := range rec {
		h = strings.TrimSpace(strings.ReplaceAll(h, "\uFEFF", ""))
		p.res.Columns[i] = h
		f, rank := lookupColumn(h)
		if f == fNone {
			continue
		}
		key := normalise(h)
		if j, ok := byName[key]; ok {
			return inventory.Errorf(inventory.EINVALID,
				"columns %s and %s are both %q: delete or rename one", columnLetters(j), columnLetters(i), h)
		}
		byName[key] = i
		places[f] = append(places[f], place{rank, i})
	}
	for f := range places {
		slices.SortFunc(places[f], func(a, b place) int { return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.col, b.col)) })
		for _, pl := range places[f] {
			p.cols[f] = append(p.cols[f], pl.col)
		}
	}
	if p.cols[fSerial] == nil && p.cols[fTag] == nil {
		found := make([]string, 0, len(p.res.Columns))
		for _, h := range p.res.Columns {
			if h != "" {
				found = append(found, strconv.Quote(h))
			}
		}
		if len(found) > 8 {
			found = append(found[:8], "…")
		}
		return inventory.Errorf(inventory.EINVALID,
			`no column identifies the kit: the first row must name the columns, with a "Serial" or "Asset Tag" column (the first row has %s)`,
			strings.Join(found, ", "))
	}
	if p.cols[fKind] == nil && p.opts.DefaultKind == "" {
		return ErrNoKind
	}
	return nil
}

// cell returns the value of field f in rec, and the column it came from:
// the first of f's columns with a value, or f's first column when all are
// empty, or -1 when the file has no column for f.
func (p *parser) cell(rec []string, f field) (string, int) {
	cols := p.cols[f]
	for _, c := range cols {
		if v := clean(rec[c]); v != "" {
			return v, c
		}
	}
	if len(cols) == 0 {
		return "", -1
	}
	return "", cols[0]
}

// clean trims a cell and removes the quote that [Write] puts before a cell
// that a spreadsheet would take for a formula.
func clean(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 1 && s[0] == '\'' && needsGuard(s[1:]) {
		s = strings.TrimSpace(s[1:])
	}
	return s
}

// row checks one data line and keeps it when it has no problem.
func (p *parser) row(line int, rec []string) {
	if len(rec) != len(p.res.Columns) {
		p.problem(line, -1, fmt.Sprintf("the row has %d fields but the header has %d: check for a separator that should be inside quotes, or a missing one",
			len(rec), len(p.res.Columns)))
		return
	}
	for i, c := range rec {
		if p.res.Columns[i] == "" && strings.TrimSpace(c) != "" {
			p.filled[i] = true
		}
	}
	var a inventory.Asset
	var col [numFields]int
	get := func(f field) string {
		v, c := p.cell(rec, f)
		col[f] = c
		return v
	}
	bad := func(f field, msg string) { p.problem(line, col[f], msg) }
	// Data with no field of its own is kept at the start of the notes.
	var nameNote, categoryNote, modelNote, lengthNotes []string

	a.AssetTag = get(fTag)
	a.Serial = get(fSerial)
	a.Make = get(fMake)
	a.Model = get(fModel)
	if no := get(fModelNo); no != "" {
		switch {
		case a.Model == "":
			a.Model, col[fModel] = no, col[fModelNo]
		case !strings.EqualFold(no, a.Model):
			modelNote = []string{"Model No.: " + no}
		}
	}
	a.Location = get(fLocation)
	a.Supplier = get(fSupplier)
	a.AssignedTo = get(fAssignedTo)

	if name := get(fName); name != "" {
		nameNote = []string{"Name: " + name}
	}
	switch v := get(fKind); {
	case v != "":
		k, category := parseKind(v)
		a.Kind = k
		if category != "" {
			categoryNote = []string{"Category: " + category}
		}
	case p.opts.DefaultKind != "":
		a.Kind = p.opts.DefaultKind
	default:
		bad(fKind, fmt.Sprintf("give a category, such as laptop or tablet (Rollcall's kinds are %s)", kindList()))
	}

	st, msg := parseStatus(get(fStatus))
	if msg != "" {
		bad(fStatus, msg)
	}
	if st == inventory.AssetInStock && a.AssignedTo != "" {
		st = inventory.AssetAssigned
	}
	a.Status = st

	if v := get(fCost); v != "" {
		pence, msg := parseCost(v, p.res.Comma == ';')
		if msg != "" {
			bad(fCost, msg)
		}
		a.PurchaseCost = pence
	}
	readDate := func(f field, v string) time.Time {
		d, msg := parseDate(v)
		if msg != "" {
			bad(f, msg)
		}
		return d
	}
	boughtOK := true
	if v := get(fPurchaseDate); v != "" {
		a.PurchaseDate = readDate(fPurchaseDate, v)
		boughtOK = !a.PurchaseDate.IsZero()
	}
	// fromPurchase returns the date n months after the purchase date, or
	// zero, keeping the length in the notes when there is no purchase date.
	fromPurchase := func(n int, label, v string) time.Time {
		switch {
		case n == 0 || !boughtOK:
			return time.Time{}
		case a.PurchaseDate.IsZero():
			lengthNotes = append(lengthNotes, label+": "+v)
			return time.Time{}
		}
		return addMonths(a.PurchaseDate, n)
	}
	if v := get(fWarrantyEnd); v != "" {
		a.WarrantyEnd = readDate(fWarrantyEnd, v)
	} else if v := get(fWarrantyMonths); v != "" {
		n, msg := parseMonths(v)
		if msg != "" {
			bad(fWarrantyMonths, msg)
		}
		a.WarrantyEnd = fromPurchase(n, "Warranty", v)
	}
	if v := get(fOSEnd); v != "" {
		// Snipe-IT's EOL may be a number of months rather than a date.
		if n, msg := parseMonths(v); msg == "" {
			a.OSEndOfSupport = fromPurchase(n, "EOL", v)
		} else {
			a.OSEndOfSupport = readDate(fOSEnd, v)
		}
	}

	if v := get(fShared); v != "" {
		shared, ok := parseYesNo(v)
		if !ok {
			bad(fShared, fmt.Sprintf("%q is not yes or no", v))
		}
		a.Shared = shared
	}
	a.Notes = get(fNotes)
	if notes := slices.Concat(nameNote, categoryNote, modelNote, lengthNotes); len(notes) > 0 {
		if a.Notes != "" {
			notes = append(notes, a.Notes)
		}
		a.Notes = strings.Join(notes, "\n")
	}

	// Check each text field on its own, by the domain's rules, so that a
	// problem names its column and every one is reported.
	for _, t := range []struct {
		f     field
		field func(*inventory.Asset) *string
	}{
		{fTag, func(x *inventory.Asset) *string { return &x.AssetTag }},
		{fSerial, func(x *inventory.Asset) *string { return &x.Serial }},
		{fMake, func(x *inventory.Asset) *string { return &x.Make }},
		{fModel, func(x *inventory.Asset) *string { return &x.Model }},
		{fLocation, func(x *inventory.Asset) *string { return &x.Location }},
		{fSupplier, func(x *inventory.Asset) *string { return &x.Supplier }},
		{fAssignedTo, func(x *inventory.Asset) *string { return &x.AssignedTo }},
		{fNotes, func(x *inventory.Asset) *string { return &x.Notes }},
	} {
		v := *t.field(&a)
		if v == "" {
			continue
		}
		probe := inventory.Asset{Kind: inventory.KindOther, Status: inventory.AssetInStock, Serial: "-"}
		*t.field(&probe) = v
		if err := probe.Validate(); err != nil {
			bad(t.f, inventory.ErrorMessage(err))
		}
	}

	if a.Serial == "" && a.AssetTag == "" {
		p.problem(line, -1, "give a serial number or an asset tag, so the kit can be found again")
	}
	p.duplicate(line, 0, col[fSerial], "serial", a.Serial)
	p.duplicate(line, 1, col[fTag], "asset tag", a.AssetTag)

	if p.bad[line] {
		return
	}
	if err := a.Validate(); err != nil {
		p.problem(line, -1, inventory.ErrorMessage(err))
		return
	}
	p.res.Rows = append(p.res.Rows, Row{Line: line, Asset: a})
}

// duplicate reports v on a later line than the first line with it.
func (p *parser) duplicate(line, which, col int, what, v string) {
	if v == "" {
		return
	}
	key := strings.ToLower(v)
	if first, ok := p.seen[which][key]; ok {
		p.problem(line, col, fmt.Sprintf("%s %q is also on line %d", what, v, first))
		return
	}
	p.seen[which][key] = line
}

// columnLetters names column i (from 0) as a spreadsheet does: A, …, Z,
// AA, AB, ….
func columnLetters(i int) string {
	var b []byte
	for i++; i > 0; i = (i - 1) / 26 {
		b = append([]byte{byte('A' + (i-1)%26)}, b...)
	}
	return string(b)
}

// thousands formats n with commas: 20,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// normalise lower-cases s and turns each run of anything but letters and
// digits into one space, so "Checked Out To: Email" is
// "checked out to email".
func normalise(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(r)
			space = false
		} else {
			space = true
		}
	}
	return b.String()
}
