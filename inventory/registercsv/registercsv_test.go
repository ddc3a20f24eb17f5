package registercsv_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/registercsv"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func mustRead(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustParse(tb testing.TB, data []byte, o registercsv.Options) *registercsv.Result {
	tb.Helper()
	res, err := registercsv.Parse(bytes.NewReader(data), o)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return res
}

// snipeITRows is what testdata/snipeit.csv holds.
var snipeITRows = []registercsv.Row{
	{Line: 2, Asset: inventory.Asset{
		AssetTag: "RC-0001", Serial: "5CG1234ABC", Kind: inventory.KindLaptop, Make: "HP", Model: "ProBook 450 G8",
		Status: inventory.AssetInStock, Location: "Main Office", PurchaseDate: day(2021, 9, 1), PurchaseCost: 64900,
		Supplier: "Example Computers Ltd", WarrantyEnd: day(2024, 9, 1), Notes: "Name: STAFF-LT-01\nModel No.: 2X7X3EA",
	}},
	{Line: 3, Asset: inventory.Asset{
		AssetTag: "RC-0002", Serial: "PF3ABCDE", Kind: inventory.KindLaptop, Make: "Lenovo", Model: "ThinkPad E14 Gen 4",
		Status: inventory.AssetAssigned, AssignedTo: "t.teacher@example.org", Location: "Science Block S12",
		PurchaseDate: day(2022, 8, 15), PurchaseCost: 109950, Supplier: "Example Computers Ltd", WarrantyEnd: day(2025, 8, 15),
	}},
	{Line: 4, Asset: inventory.Asset{
		AssetTag: "RC-0003", Serial: "NXKE1AA001", Kind: inventory.KindLaptop, Make: "Acer", Model: "Chromebook 314",
		Status: inventory.AssetAssigned, AssignedTo: "s.pupil@example.org", Location: "Year 9 Trolley",
		PurchaseDate: day(2022, 3, 15), PurchaseCost: 24900, Supplier: "Example Computers Ltd", WarrantyEnd: day(2023, 3, 15),
		Notes: "Model No.: CB314-3H\nPupil device",
	}},
	{Line: 5, Asset: inventory.Asset{
		AssetTag: "RC-0004", Serial: "DMPXA1B2C3D4", Kind: inventory.KindTablet, Make: "Apple", Model: "iPad (9th generation)",
		Status: inventory.AssetInRepair, Location: "Art Room", PurchaseDate: day(2022, 3, 15), PurchaseCost: 31900,
		Supplier: "Example Education Supplies", WarrantyEnd: day(2024, 3, 15),
		Notes: "Name: Art iPad\nModel No.: MK2K3B/A\nCracked screen.\nSent to repairer, ref \"R-77\", collect Friday",
	}},
	{Line: 7, Asset: inventory.Asset{
		AssetTag: "RC-0005", Serial: "PRM-AP7-0099", Kind: inventory.KindOther, Make: "Promethean", Model: "ActivPanel 9 75in",
		Status: inventory.AssetInStock, Location: "Room 14", PurchaseDate: day(2020, 7, 20), PurchaseCost: 345000,
		Supplier: "Example AV Ltd", WarrantyEnd: day(2025, 7, 20), Notes: "Category: Interactive Whiteboard\nWall mounted",
	}},
	{Line: 8, Asset: inventory.Asset{
		AssetTag: "RC-0006", Serial: "VZ-R-55501", Kind: inventory.KindCamera, Make: "IPEVO", Model: "VZ-R",
		Status: inventory.AssetLost, PurchaseCost: 8999, Supplier: "Example AV Ltd",
	}},
	{Line: 9, Asset: inventory.Asset{
		AssetTag: "RC-0007", Serial: "X8KJ012345", Kind: inventory.KindProjector, Make: "Epson", Model: "EB-FH06",
		Status: inventory.AssetRetired, Location: "Hall", PurchaseDate: day(2019, 1, 3), PurchaseCost: 49900,
		Supplier: "Example AV Ltd", WarrantyEnd: day(2021, 1, 3), OSEndOfSupport: day(2025, 12, 31),
		Notes: "Model No.: V11H974040",
	}},
	{Line: 10, Asset: inventory.Asset{
		AssetTag: "RC-0008", Serial: "8CC0123XYZ", Kind: inventory.KindDesktop, Make: "HP", Model: "ProOne 440 G6",
		Status: inventory.AssetRetired, Location: "Reception", PurchaseDate: day(2020, 1, 31), PurchaseCost: 72500,
		Supplier: "Example Computers Ltd", WarrantyEnd: day(2021, 1, 31), Notes: "Name: RECEPTION-PC\nPSU failed; not worth fixing",
	}},
	{Line: 11, Asset: inventory.Asset{
		AssetTag: "RC-0009", Serial: "R58N12345AB", Kind: inventory.KindPhone, Make: "Samsung", Model: "Galaxy A14",
		Status: inventory.AssetDisposed, Notes: "Model No.: SM-A145R\nSite team phone",
	}},
	{Line: 12, Asset: inventory.Asset{
		AssetTag: "RC-0010", Kind: inventory.KindLaptop, Make: "Dell", Model: "Latitude 5440, 14in",
		Status: inventory.AssetInStock, Location: "IT Store", PurchaseDate: day(2023, 9, 1), PurchaseCost: 89999,
		Supplier: "Example Computers Ltd", Notes: "Serial label worn off",
	}},
}

func TestParse_SnipeIT(t *testing.T) {
	lf := mustRead(t, "snipeit.csv")
	crlf := bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n"))
	bom := []byte("\uFEFF")
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"LF", lf},
		{"CRLF", crlf},
		{"BOM", append(bom, lf...)},
		{"BOM+CRLF", append(bom, crlf...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := mustParse(t, tc.data, registercsv.Options{})
			if len(res.Problems) != 0 {
				t.Fatalf("Problems = %v, want none", res.Problems)
			}
			if got, want := res.Lines, len(snipeITRows); got != want {
				t.Errorf("Lines = %d, want %d", got, want)
			}
			if len(res.Rows) != len(snipeITRows) {
				t.Fatalf("got %d rows, want %d", len(res.Rows), len(snipeITRows))
			}
			for i, got := range res.Rows {
				if want := snipeITRows[i]; !reflect.DeepEqual(got, want) {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, got, want)
				}
			}
			if got, want := res.Ignored, []string{"ID", "Company", "Order Number", "Created At", "Updated At"}; !reflect.DeepEqual(got, want) {
				t.Errorf("Ignored = %q, want %q", got, want)
			}
			if got, want := res.Columns[0], "ID"; got != want {
				t.Errorf("Columns[0] = %q, want %q (BOM removed)", got, want)
			}
			if len(res.Columns) != 24 || res.Comma != ',' {
				t.Errorf("Columns = %q, Comma = %q", res.Columns, res.Comma)
			}
			if got := res.BadLines(); len(got) != 0 {
				t.Errorf("BadLines = %v, want none", got)
			}
			for _, a := range res.Assets() {
				if err := a.Validate(); err != nil {
					t.Errorf("Validate(%s): %v", a.Label(), err)
				}
			}
		})
	}
}

func TestParse_Generated(t *testing.T) {
	const n = 500
	kinds := []string{"Laptop", "Chromebooks", "iPad", "Desktop", "Projector"}
	statuses := []string{"Ready to Deploy", "Deployed", "Pending", "Archived", ""}
	var b strings.Builder
	b.WriteString("Asset Tag,Serial,Manufacturer,Model,Category,Status,Location,Purchase Date,Purchase Cost,Warranty,Notes\n")
	for i := range n {
		fmt.Fprintf(&b, "RC-%05d,SN%08X,Dell,Latitude 3%03d,%s,%s,Room %d,%02d/%02d/20%02d,\"%d,%03d.%02d\",36,\"Batch %d, shelf %d\"\n",
			i, i*7919, i%1000, kinds[i%len(kinds)], statuses[i%len(statuses)], i%40,
			1+i%28, 1+i%12, 15+i%10, 1+i%9, i%1000, i%100, i/50, i%7)
	}
	res := mustParse(t, []byte(b.String()), registercsv.Options{})
	if len(res.Problems) != 0 {
		t.Fatalf("Problems = %v", res.Problems[:min(5, len(res.Problems))])
	}
	if len(res.Rows) != n || res.Lines != n {
		t.Fatalf("got %d rows from %d lines, want %d", len(res.Rows), res.Lines, n)
	}
	last := res.Rows[n-1]
	if last.Line != n+1 || last.Asset.AssetTag != "RC-00499" || last.Asset.Kind != inventory.KindProjector {
		t.Errorf("last row = %+v", last)
	}
}

func TestParse_BadFile(t *testing.T) {
	res := mustParse(t, mustRead(t, "bad.csv"), registercsv.Options{})
	want := []struct {
		line int
		col  string
		msg  string // a part of the message
	}{
		{3, "", "the row has 4 fields but the header has 8"},
		{4, "Status", `"Borrowed" is not a status: use in stock, assigned`},
		{5, "Purchase Date", `"31/02/2024" is not a date: use dd/mm/yyyy or yyyy-mm-dd`},
		{6, "Purchase Date", `"01/09/23" has a two-digit year`},
		{7, "Purchase Cost", `"abc" is not an amount`},
		{8, "Serial", `serial "ser1" is also on line 2`},
		{9, "", "give a serial number or an asset tag"},
		{10, "Status", `"On Loan": loans are not imported; import it as "assigned" with Checked Out To, then record the loan in Rollcall`},
		{11, "Category", "give a category"},
		{11, "Status", `"Borrowed" is not a status`},
		{11, "Purchase Date", `"13/13/2023" is not a date`},
		{11, "Purchase Cost", `"-5": a cost can't be negative`},
		{12, "Purchase Date", `"09/13/2023" is not a date: dates are read day first`},
		{12, "Purchase Cost", `"12.345" has more than two decimal places`},
		{13, "Model", "model: at most 200 characters"},
		{14, "Asset Tag", `asset tag "t-3" is also on line 4`},
		{15, "", `a " is inside a field that is not in quotes`},
	}
	for i, w := range want {
		if i >= len(res.Problems) {
			t.Errorf("missing problem %d: %+v", i, w)
			continue
		}
		got := res.Problems[i]
		if got.Line != w.line || got.Column != w.col || !strings.Contains(got.Message, w.msg) {
			t.Errorf("problem %d = %+v\nwant line %d, column %q, message containing %q", i, got, w.line, w.col, w.msg)
		}
	}
	for _, p := range res.Problems[min(len(want), len(res.Problems)):] {
		t.Errorf("unexpected problem %+v", p)
	}
	if got, want := res.BadLines(), []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}; !reflect.DeepEqual(got, want) {
		t.Errorf("BadLines = %v, want %v", got, want)
	}
	if res.Lines != 14 {
		t.Errorf("Lines = %d, want 14", res.Lines)
	}
	if len(res.Rows) != 1 || res.Rows[0].Line != 2 {
		t.Fatalf("Rows = %+v, want line 2 only", res.Rows)
	}
	// A formula is data on the way in; Write guards it on the way out.
	if got, want := res.Rows[0].Asset.Notes, `=HYPERLINK("http://example.org/t-1","docs")`; got != want {
		t.Errorf("Notes = %q, want %q", got, want)
	}
	var out bytes.Buffer
	if err := registercsv.Write(&out, res.Assets()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"'=HYPERLINK(""http://example.org/t-1"",""docs"")"`) {
		t.Errorf("Write did not guard the formula:\n%s", out.String())
	}
}

func TestParse_FileErrors(t *testing.T) {
	var tooMany strings.Builder
	tooMany.WriteString("Serial,Kind\n")
	for i := range registercsv.MaxRows + 1 {
		fmt.Fprintf(&tooMany, "S%d,laptop\n", i)
	}
	tests := []struct {
		name string
		data string
		opts registercsv.Options
		want string // a part of the message
	}{
		{"Latin1", "Serial,Kind,Purchase Cost\nABC,laptop,\xa3499\n", registercsv.Options{}, "not UTF-8 text: line 2 has the byte 0xA3 at character 12"},
		{"Latin1SaveAs", "Serial,Kind\nZo\xeb,laptop\n", registercsv.Options{}, "save it as CSV UTF-8"},
		{"Empty", "", registercsv.Options{}, "the file is empty"},
		{"OnlyBOM", "\uFEFF", registercsv.Options{}, "the file is empty"},
		{"OnlyBlank", "\r\n\r\n,,,\r\n", registercsv.Options{}, "the file is empty"},
		{"NoIdentifier", "Make,Model,Category\nDell,Latitude,Laptop\n", registercsv.Options{}, `no column identifies the kit: the first row must name the columns, with a "Serial" or "Asset Tag" column (the first row has "Make", "Model", "Category")`},
		{"NoKind", "Serial,Model\nABC,Latitude\n", registercsv.Options{}, "no Category column"},
		{"BadDefaultKind", "Serial,Model\nABC,Latitude\n", registercsv.Options{DefaultKind: "toaster"}, `kind "toaster"`},
		{"TwiceSameColumn", "Serial,Kind,serial\nA,laptop,B\n", registercsv.Options{}, `columns A and C are both "serial"`},
		{"TooManyRows", tooMany.String(), registercsv.Options{}, "more than 20,000 rows"},
		{"TooLarge", "Serial,Kind,Notes\n" + strings.Repeat("A,laptop,"+strings.Repeat("x", 1000)+"\n", registercsv.MaxBytes/1000), registercsv.Options{}, "larger than 10 MiB"},
		{"Workbook", "PK\x03\x04\x14\x00\x06\x00", registercsv.Options{}, "Excel workbook"},
		{"UTF16", "\xff\xfeS\x00e\x00r\x00", registercsv.Options{}, "UTF-16"},
		{"NUL", "Serial,Kind\nA\x00,laptop\n", registercsv.Options{}, "NUL byte on line 2"},
		{"BadHeaderQuote", "Serial,\"Kind\nA,laptop\n", registercsv.Options{}, "line 1: the column names can't be read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := registercsv.Parse(strings.NewReader(tc.data), tc.opts)
			if err == nil {
				t.Fatalf("Parse = %d rows, %v; want an error", len(res.Rows), res.Problems)
			}
			if code := inventory.ErrorCode(err); code != inventory.EINVALID {
				t.Errorf("code = %s, want %s", code, inventory.EINVALID)
			}
			if msg := inventory.ErrorMessage(err); !strings.Contains(msg, tc.want) {
				t.Errorf("message = %q, want it to contain %q", msg, tc.want)
			}
		})
	}
	t.Run("ErrNoKind", func(t *testing.T) {
		_, err := registercsv.Parse(strings.NewReader("Serial\nA\n"), registercsv.Options{})
		if !errors.Is(err, registercsv.ErrNoKind) {
			t.Errorf("err = %v, want ErrNoKind", err)
		}
	})
	t.Run("MaxRowsExactly", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Serial,Kind\n")
		for i := range registercsv.MaxRows {
			fmt.Fprintf(&b, "S%d,laptop\n", i)
		}
		if res := mustParse(t, []byte(b.String()), registercsv.Options{}); len(res.Rows) != registercsv.MaxRows {
			t.Errorf("got %d rows", len(res.Rows))
		}
	})
}

// parseCell parses a one-row file with a Serial column, a Kind column
// unless column is one, and column holding value.
func parseCell(t *testing.T, column, value string, o registercsv.Options) (inventory.Asset, []registercsv.Problem) {
	t.Helper()
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	header, row := []string{"Serial"}, []string{"SN1"}
	if f := strings.ToLower(column); f != "kind" && f != "category" && o.DefaultKind == "" {
		header, row = append(header, "Kind"), append(row, "laptop")
	}
	cw.Write(append(header, column))
	cw.Write(append(row, value))
	cw.Flush()
	res := mustParse(t, b.Bytes(), o)
	if len(res.Rows) == 1 {
		return res.Rows[0].Asset, res.Problems
	}
	return inventory.Asset{}, res.Problems
}

func TestParse_Dates(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time // zero: a problem
		msg  string
	}{
		{"01/09/2023", day(2023, 9, 1), ""},
		{"1/9/2023", day(2023, 9, 1), ""},
		{"04/05/2023", day(2023, 5, 4), ""}, // always day first
		{"01-09-2023", day(2023, 9, 1), ""},
		{"01.09.2023", day(2023, 9, 1), ""},
		{"2023-09-01", day(2023, 9, 1), ""},
		{"2023/09/01", day(2023, 9, 1), ""},
		{"2023-09-01 14:30:00", day(2023, 9, 1), ""},
		{"2023-09-01T14:30:00Z", day(2023, 9, 1), ""},
		{"01/09/2023 09:00", day(2023, 9, 1), ""},
		{"29/02/2024", day(2024, 2, 29), ""},
		{"29/02/2023", time.Time{}, `"29/02/2023" is not a date: use dd/mm/yyyy or yyyy-mm-dd`},
		{"31/02/2024", time.Time{}, `"31/02/2024" is not a date: use dd/mm/yyyy or yyyy-mm-dd`},
		{"2024-02-31", time.Time{}, "is not a date"},
		{"09/13/2023", time.Time{}, "dates are read day first, as dd/mm/yyyy, and this looks like mm/dd/yyyy"},
		{"01/09/23", time.Time{}, "two-digit year"},
		{"1-9-23", time.Time{}, "two-digit year"},
		{"01/09-2023", time.Time{}, "is not a date"},
		{"1 Sept 2023", time.Time{}, "is not a date"},
		{"45170", time.Time{}, "is not a date"},
		{"01/09/2204", time.Time{}, "the year 2204 is not between 1980 and 2099"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			a, probs := parseCell(t, "Purchase Date", tc.in, registercsv.Options{})
			if tc.msg == "" {
				if len(probs) != 0 || !a.PurchaseDate.Equal(tc.want) {
					t.Errorf("PurchaseDate = %v, problems %v; want %v", a.PurchaseDate, probs, tc.want)
				}
				return
			}
			if len(probs) != 1 || probs[0].Column != "Purchase Date" || !strings.Contains(probs[0].Message, tc.msg) {
				t.Errorf("problems = %v, want one on Purchase Date containing %q", probs, tc.msg)
			}
		})
	}
}

func TestParse_Costs(t *testing.T) {
	tests := []struct {
		in    string
		comma rune
		want  int64
		msg   string // "": no problem
	}{
		{"499.99", ',', 49999, ""},
		{"£499.99", ',', 49999, ""},
		{"1,299.00", ',', 129900, ""},
		{"1299", ',', 129900, ""},
		{" £ 12.5 ", ',', 1250, ""},
		{"£1,234,567.89", ',', 123456789, ""},
		{"0.5", ',', 50, ""},
		{".99", ',', 99, ""},
		{"0", ',', 0, ""},
		{"abc", ',', 0, `"abc" is not an amount: give pounds and pence, like 499.99`},
		{"£", ',', 0, "is not an amount"},
		{"12,5", ',', 0, "is not an amount"},
		{"1.2.3", ',', 0, "is not an amount"},
		{"$499", ',', 0, "is not an amount"},
		{"-5", ',', 0, "can't be negative"},
		{"£-5.00", ',', 0, "can't be negative"},
		{"-£5.00", ',', 0, "can't be negative"},
		{"12.345", ',', 0, "more than two decimal places"},
		{"9999999999999", ',', 0, "too large"},
		{"499,99", ';', 49999, ""},
		{"1.299,00", ';', 129900, ""},
		{"1 299,00", ';', 129900, ""},
		{"£ 12,5", ';', 1250, ""},
		{"1,299.00", ';', 0, `like 499,99`},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s%c", tc.in, tc.comma), func(t *testing.T) {
			file := fmt.Sprintf("Serial,Kind,Cost\nSN1,laptop,%q\n", tc.in)
			if tc.comma == ';' {
				file = fmt.Sprintf("Serial;Kind;Cost\nSN1;laptop;%q\n", tc.in)
			}
			res := mustParse(t, []byte(file), registercsv.Options{})
			if res.Comma != tc.comma {
				t.Fatalf("Comma = %q, want %q", res.Comma, tc.comma)
			}
			if tc.msg == "" {
				if len(res.Problems) != 0 || len(res.Rows) != 1 || res.Rows[0].Asset.PurchaseCost != tc.want {
					t.Errorf("got %+v, problems %v; want %d pence", res.Rows, res.Problems, tc.want)
				}
				return
			}
			if len(res.Problems) != 1 || res.Problems[0].Column != "Cost" || !strings.Contains(res.Problems[0].Message, tc.msg) {
				t.Errorf("problems = %v, want one on Cost containing %q", res.Problems, tc.msg)
			}
		})
	}
}

func TestParse_Kinds(t *testing.T) {
	tests := []struct {
		in    string
		want  inventory.AssetKind
		notes string
	}{
		{"laptop", inventory.KindLaptop, ""},
		{"Laptops", inventory.KindLaptop, ""},
		{"Notebook", inventory.KindLaptop, ""},
		{"CHROMEBOOKS", inventory.KindLaptop, ""},
		{"Desktops", inventory.KindDesktop, ""},
		{"PC", inventory.KindDesktop, ""},
		{"PCs", inventory.KindDesktop, ""},
		{"All-in-one", inventory.KindDesktop, ""},
		{"All in One", inventory.KindDesktop, ""},
		{"Tablets", inventory.KindTablet, ""},
		{"iPads", inventory.KindTablet, ""},
		{"iPad", inventory.KindTablet, ""},
		{"Phones", inventory.KindPhone, ""},
		{"Mobile Phone", inventory.KindPhone, ""},
		{"Smartphones", inventory.KindPhone, ""},
		{"Cameras", inventory.KindCamera, ""},
		{"Visualisers", inventory.KindCamera, ""},
		{"Projector", inventory.KindProjector, ""},
		{"other", inventory.KindOther, ""},
		{"Interactive Whiteboard", inventory.KindOther, "Category: Interactive Whiteboard"},
		{"Printers", inventory.KindOther, "Category: Printers"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			a, probs := parseCell(t, "Category", tc.in, registercsv.Options{})
			if len(probs) != 0 || a.Kind != tc.want || a.Notes != tc.notes {
				t.Errorf("Kind = %q, Notes = %q, problems %v; want %q, %q", a.Kind, a.Notes, probs, tc.want, tc.notes)
			}
		})
	}
	t.Run("DefaultKind", func(t *testing.T) {
		a, probs := parseCell(t, "Category", "", registercsv.Options{DefaultKind: "iPad"})
		if len(probs) != 0 || a.Kind != inventory.KindTablet {
			t.Errorf("Kind = %q, problems %v", a.Kind, probs)
		}
		res := mustParse(t, []byte("Serial\nA\n"), registercsv.Options{DefaultKind: inventory.KindCamera})
		if len(res.Rows) != 1 || res.Rows[0].Asset.Kind != inventory.KindCamera {
			t.Errorf("no Category column: %+v %v", res.Rows, res.Problems)
		}
	})
	t.Run("EmptyWithoutDefault", func(t *testing.T) {
		_, probs := parseCell(t, "Category", "", registercsv.Options{})
		if len(probs) != 1 || probs[0].Column != "Category" || !strings.Contains(probs[0].Message, "give a category") {
			t.Errorf("problems = %v", probs)
		}
	})
}

func TestParse_Statuses(t *testing.T) {
	tests := []struct {
		in   string
		want inventory.AssetStatus // "": a problem
		msg  string
	}{
		{"", inventory.AssetInStock, ""},
		{"in_stock", inventory.AssetInStock, ""},
		{"In Stock", inventory.AssetInStock, ""},
		{"Ready to Deploy", inventory.AssetInStock, ""},
		{"Ready to Deploy (Deployable)", inventory.AssetInStock, ""},
		{"Deployable", inventory.AssetInStock, ""},
		{"Available", inventory.AssetInStock, ""},
		{"assigned", inventory.AssetAssigned, ""},
		{"Deployed", inventory.AssetAssigned, ""},
		{"Checked Out", inventory.AssetAssigned, ""},
		{"Pending", inventory.AssetInRepair, ""},
		{"Out for Repair", inventory.AssetInRepair, ""},
		{"Repair", inventory.AssetInRepair, ""},
		{"In Repair", inventory.AssetInRepair, ""},
		{"in-repair", inventory.AssetInRepair, ""},
		{"Lost", inventory.AssetLost, ""},
		{"Stolen", inventory.AssetLost, ""},
		{"Lost/Stolen", inventory.AssetLost, ""},
		{"Archived", inventory.AssetRetired, ""},
		{"Retired", inventory.AssetRetired, ""},
		{"Broken - Not Fixable", inventory.AssetRetired, ""},
		{"Undeployable", inventory.AssetRetired, ""},
		{"Disposed", inventory.AssetDisposed, ""},
		{"On Loan", "", `"On Loan": loans are not imported; import it as "assigned" with Checked Out To, then record the loan in Rollcall`},
		{"on_loan", "", "loans are not imported"},
		{"Borrowed", "", `"Borrowed" is not a status: use in stock, assigned, in repair, lost, retired or disposed`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			a, probs := parseCell(t, "Status", tc.in, registercsv.Options{})
			if tc.want != "" {
				if len(probs) != 0 || a.Status != tc.want {
					t.Errorf("Status = %q, problems %v; want %q", a.Status, probs, tc.want)
				}
				return
			}
			if len(probs) != 1 || probs[0].Column != "Status" || !strings.Contains(probs[0].Message, tc.msg) {
				t.Errorf("problems = %v, want one on Status containing %q", probs, tc.msg)
			}
		})
	}
}

func TestParse_Columns(t *testing.T) {
	tests := []struct {
		name string
		file string
		want inventory.Asset
	}{
		{"HeaderSpelling",
			"  ASSET_TAG ,serial-number,Make,Model Name,TYPE,Status Label,RTD Location,Date Purchased,Price,Vendor,Warranty Expiry Date,OS End-of-Support,Comments,Assigned To\n" +
				"T1,S1,Dell,Latitude,Laptop,Deployed,Store,2023-09-01,£1,Ex Ltd,01/09/2026,14/10/2025,ok,Room 4\n",
			inventory.Asset{AssetTag: "T1", Serial: "S1", Make: "Dell", Model: "Latitude", Kind: inventory.KindLaptop,
				Status: inventory.AssetAssigned, Location: "Store", PurchaseDate: day(2023, 9, 1), PurchaseCost: 100,
				Supplier: "Ex Ltd", WarrantyEnd: day(2026, 9, 1), OSEndOfSupport: day(2025, 10, 14), Notes: "ok", AssignedTo: "Room 4"}},
		{"LocationBeforeDefault",
			"Default Location,Serial,Kind,Location\nStore,S1,laptop,Room 4\n",
			inventory.Asset{Serial: "S1", Kind: inventory.KindLaptop, Status: inventory.AssetInStock, Location: "Room 4"}},
		{"EmailBeforeName",
			"Serial,Kind,Checked Out To,Email\nS1,laptop,Test Teacher,t@example.org\nS2,laptop,Test Teacher,\n",
			inventory.Asset{Serial: "S1", Kind: inventory.KindLaptop, Status: inventory.AssetAssigned, AssignedTo: "t@example.org"}},
		{"ModelNoAsModel",
			"Serial,Kind,Model,Model Number\nS1,laptop,,20XW004EUK\n",
			inventory.Asset{Serial: "S1", Kind: inventory.KindLaptop, Status: inventory.AssetInStock, Model: "20XW004EUK"}},
		{"ModelNoSameAsModel",
			"Serial,Kind,Model,Model No.\nS1,laptop,A14,a14\n",
			inventory.Asset{Serial: "S1", Kind: inventory.KindLaptop, Status: inventory.AssetInStock, Model: "A14"}},
		{"NotesGathered",
			"Asset Name,Serial,Category,Model,Model No.,Warranty,Notes\nHall PC,S1,Smartboard,X,X-1,3 years,Fixed to wall\n",
			inventory.Asset{Serial: "S1", Kind: inventory.KindOther, Status: inventory.AssetInStock, Model: "X",
				Notes: "Name: Hall PC\nCategory: Smartboard\nModel No.: X-1\nWarranty: 3 years\nFixed to wall"}},
		{"WarrantyMonthEnd",
			"Serial,Kind,Purchase Date,Warranty Months\nS1,laptop,31/01/2024,1\n",
			inventory.Asset{Serial: "S1", Kind: inventory.KindLaptop, Status: inventory.AssetInStock,
				PurchaseDate: day(2024, 1, 31), WarrantyEnd: day(2024, 2, 29)}},
		{"EOLMonths",
			"Serial,Kind,Purchase Date,EOL\nS1,laptop,01/09/2020,60 months\n",
			inventory.Asset{Serial: "S1", Kind: inventory.KindLaptop, Status: inventory.AssetInStock,
				PurchaseDate: day(2020, 9, 1), OSEndOfSupport: day(2025, 9, 1)}},
		{"Shared",
			"Serial,Kind,Shared\nS1,laptop,Yes\n",
			inventory.Asset{Serial: "S1", Kind: inventory.KindLaptop, Status: inventory.AssetInStock, Shared: true}},
		{"GuardQuoteRemoved",
			"Serial,Kind,Notes,Make\n'-S1,laptop,'=1+1,'Brand\n",
			inventory.Asset{Serial: "-S1", Kind: inventory.KindLaptop, Status: inventory.AssetInStock, Notes: "=1+1", Make: "'Brand"}},
		{"Semicolons",
			"Serial;Kind;Model;Notes\nS1;laptop;\"Latitude; 14in\";a, b\n",
			inventory.Asset{Serial: "S1", Kind: inventory.KindLaptop, Status: inventory.AssetInStock, Model: "Latitude; 14in", Notes: "a, b"}},
		{"SpacesAndBlankLines",
			"\n\nSerial , Kind\n\n  S1 , \" laptop \"\n\n,\n",
			inventory.Asset{Serial: "S1", Kind: inventory.KindLaptop, Status: inventory.AssetInStock}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustParse(t, []byte(tc.file), registercsv.Options{})
			if len(res.Problems) != 0 || len(res.Rows) == 0 {
				t.Fatalf("rows %+v, problems %v", res.Rows, res.Problems)
			}
			if got := res.Rows[0].Asset; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParse_Lines(t *testing.T) {
	file := "Serial,Kind,Notes\r\n" +
		"\r\n" + // line 2: blank
		"S1,laptop,\"one\r\ntwo\r\nthree\"\r\n" + // lines 3-5
		"S2,laptop,ok\r\n" + // line 6
		",,\r\n" + // line 7: blank
		"S3,toaster,\"a\nb\"\r\n" + // lines 8-9
		"S4,laptop,x,extra\r\n" + // line 10
		"\r\n\r\n"
	res := mustParse(t, []byte(file), registercsv.Options{})
	var lines []int
	for _, r := range res.Rows {
		lines = append(lines, r.Line)
	}
	if want := []int{3, 6, 8}; !reflect.DeepEqual(lines, want) {
		t.Errorf("row lines = %v, want %v", lines, want)
	}
	if got := res.Rows[0].Asset.Notes; got != "one\ntwo\nthree" {
		t.Errorf("Notes = %q", got)
	}
	if got := res.BadLines(); !reflect.DeepEqual(got, []int{10}) {
		t.Errorf("BadLines = %v, problems %v", got, res.Problems)
	}
	if res.Lines != 4 {
		t.Errorf("Lines = %d, want 4", res.Lines)
	}
}

func TestParse_HeaderOnly(t *testing.T) {
	res := mustParse(t, []byte("\uFEFFAsset Tag,Category\r\n"), registercsv.Options{})
	if len(res.Rows) != 0 || len(res.Problems) != 0 || res.Lines != 0 {
		t.Errorf("got %+v", res)
	}
}

func TestParse_Ignored(t *testing.T) {
	file := "Serial,Kind,,Colour,\nS1,laptop,,red,\nS2,laptop,,blue,\n"
	res := mustParse(t, []byte(file), registercsv.Options{})
	if got, want := res.Ignored, []string{"Colour"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Ignored = %q, want %q", got, want)
	}
	file = "Serial,Kind,,Colour\nS1,laptop,,red\nS2,laptop,lost?,blue\n"
	res = mustParse(t, []byte(file), registercsv.Options{})
	if got, want := res.Ignored, []string{"Column C", "Colour"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Ignored = %q, want %q", got, want)
	}
}

func TestParse_FieldLimits(t *testing.T) {
	long := strings.Repeat("é", 201)
	file := "Serial,Kind,Make,Location,Notes\n" +
		"S1,laptop," + long + "," + long + "," + strings.Repeat("n", 4001) + "\n"
	res := mustParse(t, []byte(file), registercsv.Options{})
	var cols []string
	for _, p := range res.Problems {
		cols = append(cols, p.Column)
	}
	if want := []string{"Make", "Location", "Notes"}; !reflect.DeepEqual(cols, want) {
		t.Errorf("problem columns = %q, want %q (%v)", cols, want, res.Problems)
	}
}

func TestWrite_RoundTrip(t *testing.T) {
	assets := []*inventory.Asset{
		{AssetTag: "RC-0001", Serial: "5CG1234ABC", Kind: inventory.KindLaptop, Make: "HP", Model: "ProBook 450 G8",
			Status: inventory.AssetAssigned, AssignedTo: "t.teacher@example.org", Location: "Room 4, Science",
			PurchaseDate: day(2021, 9, 1), PurchaseCost: 64999, Supplier: `Example "Computers" Ltd`,
			WarrantyEnd: day(2024, 8, 31), OSEndOfSupport: day(2025, 10, 14),
			Notes: "Line one, with a comma\nLine \"two\"\n\nLine four; done"},
		{Serial: "DMPX0001", Kind: inventory.KindTablet, Make: "Apple", Model: "iPad", Status: inventory.AssetInStock,
			Location: "Trolley A", Shared: true, PurchaseCost: 5},
		{AssetTag: "=1+1", Serial: "+44 SIM", Kind: inventory.KindPhone, Make: "@vendor", Model: "-minus",
			Status: inventory.AssetInRepair, Supplier: "=HYPERLINK(\"http://example.org\")",
			Notes: "-- keep\nsecond line", AssignedTo: "@someone", Location: "'=quoted already"},
		{AssetTag: "T-9", Kind: inventory.KindOther, Status: inventory.AssetDisposed, PurchaseCost: 123456789,
			Notes: "Category: Interactive Whiteboard"},
	}
	var out bytes.Buffer
	if err := registercsv.Write(&out, assets); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out.Bytes(), []byte("\uFEFFAsset Tag,Serial,")) {
		t.Errorf("output starts %q", out.String()[:min(30, out.Len())])
	}
	// Read the raw cells: none may start with a formula character.
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(out.Bytes(), []byte("\uFEFF"))))
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(recs[0], registercsv.Header()) {
		t.Errorf("header = %q, want %q", recs[0], registercsv.Header())
	}
	for _, rec := range recs {
		for _, c := range rec {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("unguarded cell %q", c)
			}
		}
	}
	if got, want := recs[3][:5], []string{"'=1+1", "'+44 SIM", "phone", "'@vendor", "'-minus"}; !reflect.DeepEqual(got, want) {
		t.Errorf("guarded cells = %q, want %q", got, want)
	}
	if got, want := recs[3][7], "''=quoted already"; got != want {
		t.Errorf("location = %q, want %q", got, want)
	}
	if got, want := recs[1][9], "649.99"; got != want {
		t.Errorf("cost = %q, want %q", got, want)
	}

	res := mustParse(t, out.Bytes(), registercsv.Options{})
	if len(res.Problems) != 0 || len(res.Ignored) != 0 {
		t.Fatalf("problems %v, ignored %q", res.Problems, res.Ignored)
	}
	got := res.Assets()
	if len(got) != len(assets) {
		t.Fatalf("got %d assets, want %d", len(got), len(assets))
	}
	for i := range assets {
		if !reflect.DeepEqual(got[i], assets[i]) {
			t.Errorf("asset %d:\n got %+v\nwant %+v", i, got[i], assets[i])
		}
	}
}

func TestWrite_Empty(t *testing.T) {
	var out bytes.Buffer
	if err := registercsv.Write(&out, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "\uFEFF"+strings.Join(registercsv.Header(), ",")+"\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := registercsv.Write(&out, []*inventory.Asset{nil}); err == nil {
		t.Error("Write(nil asset) = nil, want an error")
	}
}

func TestHeader_Parses(t *testing.T) {
	h := registercsv.Header()
	h[0] = "changed"
	if registercsv.Header()[0] != "Asset Tag" {
		t.Error("Header returns a shared slice")
	}
}
