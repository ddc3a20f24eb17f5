package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/registercsv"
)

// maxImportBytes caps an uploaded register file.
const maxImportBytes = 10 << 20

// importMode is what an import does once the file is read.
type importMode int

const (
	importDryRun    importMode = iota // check only; write nothing
	importAll                         // write every row, or nothing if any row is wrong
	importValidOnly                   // write the rows without problems
)

// importOutcome is what an import found and did.
type importOutcome struct {
	Lines    int
	Valid    int // rows without problems
	Imported int
	Problems []registercsv.Problem
	Ignored  []string
	BadLines []int
	DryRun   bool
}

// importRegister reads a register file for school sc, checks it against
// what the register holds, and, unless mode is a dry run, writes it in
// one transaction. With importAll and any problem, nothing is written
// and the error says how many lines are wrong.
func (s *server) importRegister(r *http.Request, sc *inventory.School, data []byte, defaultKind inventory.AssetKind, mode importMode) (*importOutcome, error) {
	ctx := r.Context()
	res, err := registercsv.Parse(bytes.NewReader(data), registercsv.Options{DefaultKind: defaultKind})
	if err != nil {
		return nil, err
	}
	problems := res.Problems
	clashes, err := s.registerClashes(ctx, sc.ID, res.Rows)
	if err != nil {
		return nil, err
	}
	problems = append(problems, clashes...)
	slices.SortStableFunc(problems, func(a, b registercsv.Problem) int { return a.Line - b.Line })
	bad := map[int]bool{}
	for _, p := range problems {
		bad[p.Line] = true
	}
	out := &importOutcome{Lines: res.Lines, Problems: problems, Ignored: res.Ignored, DryRun: mode == importDryRun}
	var list []*inventory.Asset
	for _, row := range res.Rows {
		if bad[row.Line] {
			continue
		}
		a := row.Asset
		a.SchoolID = sc.ID
		list = append(list, &a)
	}
	for line := range bad {
		out.BadLines = append(out.BadLines, line)
	}
	slices.Sort(out.BadLines)
	out.Valid = len(list)
	switch {
	case mode == importDryRun:
		return out, nil
	case mode == importAll && len(problems) > 0:
		return out, inventory.Errorf(inventory.EINVALID, "Nothing was imported: %s of the file %s problems. Fix them and try again, or import only the %s without problems.",
			plural(len(out.BadLines), "line"), haveHas(len(out.BadLines)), plural(out.Valid, "valid line"))
	case len(list) == 0:
		return out, inventory.Errorf(inventory.EINVALID, "Nothing was imported: the file has no valid lines.")
	}
	if err := s.store.ImportAssets(ctx, list); err != nil {
		return out, err
	}
	out.Imported = len(list)
	detail := "imported " + plural(len(list), "entry")
	if len(out.BadLines) > 0 {
		detail += ", skipped " + plural(len(out.BadLines), "line") + " with problems"
	}
	s.audit(r, inventory.AuditEntry{SchoolID: sc.ID, Action: "register.import", Record: "register", Detail: detail})
	return out, nil
}

func haveHas(n int) string {
	if n == 1 {
		return "has"
	}
	return "have"
}

// registerClashes returns a problem for each row whose serial or asset
// tag the school's register already holds.
func (s *server) registerClashes(ctx context.Context, school uuid.UUID, rows []registercsv.Row) ([]registercsv.Problem, error) {
	var problems []registercsv.Problem
	const chunk = 500
	for start := 0; start < len(rows); start += chunk {
		part := rows[start:min(start+chunk, len(rows))]
		f := inventory.AssetFilter{SchoolIDs: []uuid.UUID{school}, Limit: inventory.MaxPageSize}
		for _, row := range part {
			if row.Asset.Serial != "" {
				f.Serials = append(f.Serials, row.Asset.Serial)
			}
			if row.Asset.AssetTag != "" {
				f.AssetTags = append(f.AssetTags, row.Asset.AssetTag)
			}
		}
		if len(f.Serials) == 0 && len(f.AssetTags) == 0 {
			continue
		}
		stored, err := s.store.FindAssets(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, row := range part {
			for _, a := range stored {
				switch {
				case row.Asset.Serial != "" && strings.EqualFold(a.Serial, row.Asset.Serial):
					problems = append(problems, registercsv.Problem{Line: row.Line, Column: "Serial", Message: strconv.Quote(row.Asset.Serial) + " is already in the register as " + a.Label()})
				case row.Asset.AssetTag != "" && strings.EqualFold(a.AssetTag, row.Asset.AssetTag):
					problems = append(problems, registercsv.Problem{Line: row.Line, Column: "Asset Tag", Message: strconv.Quote(row.Asset.AssetTag) + " is already in the register as " + a.Label()})
				}
			}
		}
	}
	return problems, nil
}

// importBody reads the file of an import request: a multipart upload
// (field "file") or the body itself. Pages may also send it back in the
// "csv" field after a preview.
func importBody(r *http.Request) ([]byte, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	tooBig := inventory.Errorf(inventory.EINVALID, "The file is larger than %d MB: split it into smaller files.", maxImportBytes>>20)
	switch ct {
	case "multipart/form-data", "application/x-www-form-urlencoded":
		if err := r.ParseMultipartForm(maxImportBytes); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooBig
			}
			return nil, inventory.Errorf(inventory.EINVALID, "The upload could not be read: %v", err)
		}
		if f, _, err := r.FormFile("file"); err == nil {
			defer f.Close()
			data, err := io.ReadAll(io.LimitReader(f, maxImportBytes+1))
			if err != nil {
				return nil, err
			}
			if len(data) > maxImportBytes {
				return nil, tooBig
			}
			if len(data) > 0 {
				return data, nil
			}
		}
		if text := r.FormValue("csv"); text != "" {
			return []byte(text), nil
		}
		return nil, inventory.Errorf(inventory.EINVALID, "Choose a CSV file to import.")
	}
	data, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooBig
	} else if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, inventory.Errorf(inventory.EINVALID, "Send the CSV file as the request body (Content-Type: text/csv) or as a multipart upload named \"file\".")
	}
	return data, nil
}

// limitBody caps a request body at n bytes.
func limitBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}

// importPage is the data of the import page.
type importPage struct {
	Schools     []*inventory.School
	School      string
	Kinds       []inventory.AssetKind
	DefaultKind string
	Outcome     *importOutcome
	CSV         string // the file, carried from the preview to the import
	Error       string
}

func (s *server) importPageData(r *http.Request) (*importPage, error) {
	schools, err := s.schoolsFor(r, kitManagers)
	if err != nil {
		return nil, err
	}
	return &importPage{Schools: schools, Kinds: inventory.AssetKinds, School: r.FormValue("school"), DefaultKind: r.FormValue("default_kind")}, nil
}

func (s *server) handleImportPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := s.importPageData(r)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "import.html", "Import the register", page)
	})
}

func (s *server) handleImport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := importBody(r)
		page, perr := s.importPageData(r)
		if perr != nil {
			s.pageError(w, r, perr)
			return
		}
		mode := map[string]importMode{"import": importAll, "import_valid": importValidOnly}[r.FormValue("action")]
		var sc *inventory.School
		if err == nil {
			sc, err = s.managedSchool(r, r.FormValue("school"), kitManagers, "import into the register")
		}
		var kind inventory.AssetKind
		if err == nil && r.FormValue("default_kind") != "" {
			kind, err = inventory.ParseAssetKind(r.FormValue("default_kind"))
		}
		if err == nil {
			page.CSV = string(data)
			page.Outcome, err = s.importRegister(r, sc, data, kind, mode)
		}
		if err == nil && mode != importDryRun {
			http.Redirect(w, r, "/register?school="+sc.Slug+"&done=imported&n="+strconv.Itoa(page.Outcome.Imported), http.StatusSeeOther)
			return
		}
		status := http.StatusOK
		if err != nil {
			if st := statusOf[inventory.ErrorCode(err)]; st == 0 || st == http.StatusInternalServerError {
				s.pageError(w, r, err)
				return
			}
			page.Error, status = inventory.ErrorMessage(err), statusOf[inventory.ErrorCode(err)]
		}
		s.render(w, r, status, "import.html", "Import the register", page)
	})
}
