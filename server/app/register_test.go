package app_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/inventory"
)

// snipeIT returns a Snipe-IT style export of n laptops and iPads, with a
// BOM and CRLF line ends as Excel saves it, starting at number from.
func snipeIT(n, from int) []byte {
	var b strings.Builder
	b.WriteString("\ufeffAsset Tag,Name,Serial,Model,Category,Manufacturer,Status,Checked Out To: Email,Location,Purchase Date,Purchase Cost,Supplier,Notes\r\n")
	for i := from; i < from+n; i++ {
		cat, make, model := "Laptops", "Dell", "Latitude 3440"
		if i%3 == 0 {
			cat, make, model = "iPads", "Apple", "iPad (10th generation)"
		}
		status, email := "Ready to Deploy", ""
		if i%5 == 0 {
			status, email = "Deployed", fmt.Sprintf("teacher%d@school.example", i)
		}
		fmt.Fprintf(&b, "KIT-%04d,,SN%06d,%s,%s,%s,%s,%s,\"Room %d, upstairs\",%02d/09/2024,\"£%d.99\",Example Supplies,\"Bought with the \"\"hub\"\" grant\"\r\n",
			i, i, model, cat, make, status, email, i%20, 1+i%28, 300+i)
	}
	return []byte(b.String())
}

type importResult struct {
	DryRun   bool `json:"dry_run"`
	Lines    int  `json:"lines"`
	Valid    int  `json:"valid"`
	Imported int  `json:"imported"`
	Problems []struct {
		Line    int    `json:"line"`
		Column  string `json:"column"`
		Message string `json:"message"`
	} `json:"problems"`
}

func countAssets(t *testing.T, h *harness) int {
	t.Helper()
	c, err := h.app.Store.CountAssets(context.Background(), inventory.AssetFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Total
}

// TestRegisterImport imports a 500-line Snipe-IT export in one go on both
// stores, after a dry run that writes nothing; refuses a file with bad
// lines line by line with nothing written; exports what it holds; and
// links a laptop whose agent enrols to its imported entry.
func TestRegisterImport(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		file := snipeIT(500, 1)
		var res importResult
		st, raw := h.call(t, "POST", "/api/v1/register/import?dry_run=1", h.apiToken, "text/csv", file)
		if err := json.Unmarshal(raw, &res); err != nil || st != http.StatusOK || res.Lines != 500 || res.Valid != 500 || res.Imported != 0 || len(res.Problems) != 0 {
			t.Fatalf("dry run = %d %+v (%v)", st, res, err)
		}
		if n := countAssets(t, h); n != 0 {
			t.Fatalf("a dry run wrote %d entries", n)
		}
		// The real import, as a multipart upload.
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "snipeit.csv")
		fw.Write(file)
		mw.Close()
		st, raw = h.call(t, "POST", "/api/v1/register/import", h.apiToken, mw.FormDataContentType(), body.Bytes())
		if err := json.Unmarshal(raw, &res); err != nil || st != http.StatusCreated || res.Imported != 500 {
			t.Fatalf("import = %d %s", st, raw)
		}
		if n := countAssets(t, h); n != 500 {
			t.Fatalf("after the import the register holds %d", n)
		}
		var one struct {
			Items []struct {
				Kind, Serial, Status, Location, AssignedTo, Notes string
				PurchaseDate                                      *string `json:"purchase_date"`
				PurchaseCost                                      *string `json:"purchase_cost"`
				AssignedToJSON                                    string  `json:"assigned_to"`
			} `json:"items"`
		}
		if st := h.callJSON(t, "GET", "/api/v1/register?q=SN000005", h.apiToken, nil, &one); st != http.StatusOK || len(one.Items) != 1 {
			t.Fatalf("find SN000005 = %d, %d items", st, len(one.Items))
		}
		got := one.Items[0]
		if got.Kind != "laptop" || got.Status != "assigned" || got.Location != "Room 5, upstairs" || got.AssignedToJSON != "teacher5@school.example" ||
			got.PurchaseDate == nil || *got.PurchaseDate != "2024-09-06" || got.PurchaseCost == nil || *got.PurchaseCost != "305.99" || got.Notes != `Bought with the "hub" grant` {
			t.Errorf("imported SN000005 as %+v (date %v, cost %v)", got, deref(got.PurchaseDate), deref(got.PurchaseCost))
		}

		// A file with bad lines is refused line by line, and nothing is written.
		bad := string(snipeIT(5, 1000))
		lines := strings.Split(strings.TrimSuffix(bad, "\r\n"), "\r\n")
		lines[2] = strings.Replace(lines[2], "Ready to Deploy", "Borrowed", 1)   // line 3: unknown status
		lines[3] = strings.Replace(lines[3], "/09/2024", "/13/2024", 1)          // line 4: no month 13
		lines[4] = strings.Replace(lines[4], "SN001003", "SN000007", 1)          // line 5: already in the register
		lines = append(lines, "KIT-9999,,SN009999,Latitude,Laptops,Dell")        // line 7: too few fields
		lines = append(lines, "KIT-1000,,SN777777,Latitude,Laptops,Dell,,,,,,,") // line 8: tag also on line 2
		st, raw = h.call(t, "POST", "/api/v1/register/import", h.apiToken, "text/csv", []byte(strings.Join(lines, "\r\n")))
		var refused struct {
			Error  struct{ Message string } `json:"error"`
			Result importResult             `json:"result"`
		}
		if err := json.Unmarshal(raw, &refused); err != nil || st != http.StatusBadRequest || !strings.Contains(refused.Error.Message, "Nothing was imported") {
			t.Fatalf("bad file = %d %s", st, raw)
		}
		byLine := map[int]string{}
		for _, p := range refused.Result.Problems {
			byLine[p.Line] += p.Column + ": " + p.Message + "; "
		}
		for line, want := range map[int]string{3: "Borrowed", 4: "13/2024", 5: "already in the register", 7: "fields", 8: "line 2"} {
			if !strings.Contains(byLine[line], want) {
				t.Errorf("line %d: problems %q, want one naming %q", line, byLine[line], want)
			}
		}
		if n := countAssets(t, h); n != 500 {
			t.Errorf("a refused file changed the register to %d entries", n)
		}
		// Importing only the valid lines says how many.
		st, raw = h.call(t, "POST", "/api/v1/register/import?valid_only=1", h.apiToken, "text/csv", []byte(strings.Join(lines, "\r\n")))
		if err := json.Unmarshal(raw, &res); err != nil || st != http.StatusCreated || res.Imported != 2 {
			t.Errorf("valid-only import = %d %s", st, raw)
		}
		// A Latin-1 file is refused as a whole.
		st, raw = h.call(t, "POST", "/api/v1/register/import", h.apiToken, "text/csv", []byte("Asset Tag,Serial,Category,Purchase Cost\r\nK1,S1,Laptops,\xa3300\r\n"))
		wantRefused(t, "Latin-1 file", st, raw, http.StatusBadRequest, "UTF-8")

		// The export holds every entry, with formula cells defused.
		if _, err := h.app.Store.FindAssets(context.Background(), inventory.AssetFilter{}); err != nil {
			t.Fatal(err)
		}
		var evil struct{ ID string }
		if st := h.callJSON(t, "POST", "/api/v1/register", h.apiToken, map[string]any{"kind": "camera", "asset_tag": "CAM-1", "notes": `=HYPERLINK("http://evil.example","click")`}, &evil); st != http.StatusCreated {
			t.Fatalf("add camera = %d", st)
		}
		st, raw = h.call(t, "GET", "/api/v1/register/export.csv", h.apiToken, "", nil)
		rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\ufeff")))).ReadAll()
		if err != nil || st != http.StatusOK || len(rows) != 504 {
			t.Fatalf("export = %d, %d rows (%v)", st, len(rows), err)
		}
		if !strings.Contains(string(raw), `'=HYPERLINK(`) {
			t.Error("the export leaves a formula cell as a formula")
		}
		st, raw = h.call(t, "GET", "/api/v1/register/export.csv?kind=tablet", h.apiToken, "", nil)
		if rows, _ := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\ufeff")))).ReadAll(); st != http.StatusOK || len(rows) != 1+166 {
			t.Errorf("export of tablets = %d, %d rows, want 167", st, len(rows))
		}

		// An agent enrolling with an imported serial is linked, not added.
		enroll(t, h.token(t, 1, time.Hour), "SN000010")
		dev := deviceBySerial(t, h, "SN000010")
		a, err := h.app.Store.FindAssetByDevice(context.Background(), dev.ID)
		if err != nil || a.AssetTag != "KIT-0010" {
			t.Errorf("the enrolled laptop's entry: %+v, %v", a, err)
		}
		enroll(t, h.token(t, 1, time.Hour), "SN-NEW-ONE")
		if n := countAssets(t, h); n != 504 {
			t.Errorf("after two enrolments the register holds %d, want 504 (one linked, one added)", n)
		}
	})
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestDispose records kit leaving on both stores: with a certificate as
// a multipart upload on the page, and through the API. Disposed kit is
// read-only and its PINs are gone; kit on a loan, or a data destruction
// without its certificate, is refused.
func TestDispose(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		store := h.app.Store
		school, err := store.FindSchoolBySlug(ctx, inventory.DefaultSchoolSlug)
		if err != nil {
			t.Fatal(err)
		}
		var kit []*inventory.Asset
		for _, tag := range []string{"OLD-1", "OLD-2", "LENT-1"} {
			a := &inventory.Asset{SchoolID: school.ID, Kind: inventory.KindLaptop, AssetTag: tag, Status: inventory.AssetInStock}
			if err := store.CreateAsset(ctx, a); err != nil {
				t.Fatal(err)
			}
			kit = append(kit, a)
		}
		if st, raw := h.call(t, "PUT", "/api/v1/devices/"+kit[0].ID.String()+"/pins/firmware_password", h.apiToken, "application/json", []byte(`{"value": "Bios-1234"}`)); st != http.StatusOK {
			t.Fatalf("record a PIN = %d %s", st, raw)
		}
		person(t, h, "sam@school.example", inventory.RoleStaff, "")
		if st := h.callJSON(t, "POST", "/api/v1/loans", apiToken(t, h, "sam@school.example"), map[string]string{"device_id": kit[2].ID.String(), "reason": "Reports"}, nil); st != http.StatusCreated {
			t.Fatalf("request = %d", st)
		}
		today := time.Now().Format("2006-01-02")

		// On the page, with a certificate.
		tb := newBrowser(t, h)
		tb.signIn("tech@school.example", techPassword(t, h))
		tb.do("GET", "/register/"+kit[0].ID.String(), nil)
		cert := []byte("%PDF-1.4\ncertificate of destruction OLD-1\n%%EOF\n")
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for k, v := range map[string]string{"csrf": tb.csrf, "method": "data_destruction", "date": today, "recipient": "Secure Shred Ltd", "notes": "Collected from the office"} {
			mw.WriteField(k, v)
		}
		fw, _ := mw.CreateFormFile("certificate", "certificate.pdf")
		fw.Write(cert)
		mw.Close()
		req, _ := http.NewRequest("POST", tb.base+"/register/"+kit[0].ID.String()+"/dispose", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := tb.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("dispose on the page = %d", resp.StatusCode)
		}
		if a, _ := store.FindAssetByID(ctx, kit[0].ID); a.Status != inventory.AssetDisposed {
			t.Errorf("after the disposal the status is %s", a.Status)
		}
		if recs, err := store.FindPINRecords(ctx, kit[0].ID); err != nil || len(recs) != 0 {
			t.Errorf("after the disposal %d PIN records are left (%v)", len(recs), err)
		}
		code, _, got := tb.do("GET", "/register/"+kit[0].ID.String()+"/certificate", nil)
		if code != http.StatusOK || got != string(cert) {
			t.Errorf("certificate download = %d, %q", code, got)
		}
		_, _, page := tb.do("GET", "/register/"+kit[0].ID.String(), nil)
		if !strings.Contains(page, "Secure Shred Ltd") || strings.Contains(page, "Change the details") {
			t.Error("the disposed entry's page does not show the disposal, or still offers an edit")
		}
		if code, _, _ := tb.post("/register/"+kit[0].ID.String(), url.Values{"kind": {"laptop"}, "asset_tag": {"OLD-1"}, "status": {"in_stock"}}); code != http.StatusConflict {
			t.Errorf("editing disposed kit = %d, want 409", code)
		}
		st, raw := h.call(t, "PUT", "/api/v1/devices/"+kit[0].ID.String()+"/pins/firmware_password", h.apiToken, "application/json", []byte(`{"value": "x"}`))
		wantRefused(t, "a PIN for disposed kit", st, raw, http.StatusConflict, "disposed")

		// Through the API; refusals.
		var d struct{ Method, Recipient string }
		if st := h.callJSON(t, "POST", "/api/v1/devices/"+kit[1].ID.String()+"/dispose", h.apiToken, map[string]string{"method": "resale", "date": today, "recipient": "A parent"}, &d); st != http.StatusCreated || d.Method != "resale" {
			t.Errorf("dispose through the API = %d %+v", st, d)
		}
		st, raw = h.call(t, "POST", "/api/v1/devices/"+kit[1].ID.String()+"/dispose", h.apiToken, "application/json", []byte(`{"method": "resale", "date": "`+today+`", "recipient": "Again"}`))
		wantRefused(t, "disposing twice", st, raw, http.StatusConflict, "disposed")
		st, raw = h.call(t, "POST", "/api/v1/devices/"+kit[2].ID.String()+"/dispose", h.apiToken, "application/json", []byte(`{"method": "weee_recycler", "date": "`+today+`", "recipient": "Recycler"}`))
		wantRefused(t, "kit a loan names", st, raw, http.StatusConflict, "loan")
		st, raw = h.call(t, "POST", "/api/v1/devices/"+kit[2].ID.String()+"/dispose", h.apiToken, "application/json", []byte(`{"method": "data_destruction", "date": "`+today+`", "recipient": "Shredder"}`))
		wantRefused(t, "destruction without a certificate", st, raw, http.StatusBadRequest, "certificate")
		if got, err := store.FindAudit(ctx, inventory.AuditFilter{Action: "register.dispose"}); err != nil || len(got) != 2 || !strings.Contains(got[len(got)-1].Detail+got[0].Detail, "sha256") {
			t.Errorf("audit of the disposals: %+v (%v)", got, err)
		}
	})
}
