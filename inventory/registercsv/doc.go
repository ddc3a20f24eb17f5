// Package registercsv reads and writes a school's hardware register
// ([inventory.Asset]) as CSV, so that a school can bring its register over
// from Snipe-IT or a spreadsheet, and take it away again.
//
// # The file
//
// [Parse] reads UTF-8 text, with or without a byte-order mark, with CRLF or
// LF line ends. A file saved in another encoding (Excel's plain "CSV" on
// Windows, which writes a pound sign as the byte 0xA3) is refused with the
// line it goes wrong on: save it as "CSV UTF-8" instead. Fields are
// separated by commas, or by semicolons when the first row has more
// semicolons than commas, as Excel in much of Europe saves CSV. Fields may
// be quoted, and a quoted field may hold commas, doubled quotes and line
// breaks. Spaces at either end of a cell are dropped. Blank rows are
// skipped, and rows that are only separators count as blank.
//
// The first row that is not blank names the columns. Line numbers are the
// file's physical lines, as a text editor counts them, so a quoted field
// with a line break in it moves every later row down one.
//
// A file is refused as a whole, with an error rather than a list of
// problems, when it is larger than [MaxBytes], has more than [MaxRows]
// rows, is not UTF-8, has no header row, has no Serial or Asset Tag column,
// names the same column twice, or has no Category column and
// [Options.DefaultKind] is empty ([ErrNoKind]). Anything else is reported
// as a [Problem] on its line, and every line is checked, so one upload
// lists everything to fix.
//
// # Columns
//
// Column names are matched ignoring case, spaces at either end and
// punctuation, so "Asset Tag", "asset_tag" and "ASSET-TAG" are the same
// column. Where a file has more than one column for a field, the first one
// listed here that has a value in a row is used for that row: Location
// before Default Location, an email address before a name.
//
//   - Asset Tag, Tag, Asset No, Asset Number, Tag No, Tag Number: the
//     asset tag.
//   - Serial, Serial Number, Serial No: the serial number. A row needs a
//     serial number or an asset tag; both are compared ignoring case, and
//     one that appears on two lines is a problem on the later line.
//   - Manufacturer, Make, Brand: the make.
//   - Model, Model Name: the model.
//   - Model No., Model Number: the maker's model or part number. It becomes
//     the model when the row has no Model; otherwise, unless it is the
//     same as the model, it is kept in the notes as "Model No.: …".
//   - Kind, Category, Type, Asset Type, Device Type: the kind of kit; see
//     Categories below.
//   - Status, Status Label, State: see Statuses below.
//   - Location, Current Location, Room, Default Location, RTD Location.
//   - Checked Out To: Email, Assigned To: Email, Email, Email Address,
//     User Email, Assigned To, Checked Out To: who holds the kit.
//   - Purchase Date, Date Purchased, Purchased.
//   - Purchase Cost, Cost, Price, Purchase Price, Unit Cost: in pounds;
//     see Costs below.
//   - Supplier, Vendor.
//   - Warranty End, Warranty End Date, Warranty Expires, Warranty Expiry,
//     Warranty Expiry Date, Warranty Expiration, Warranty Expiration Date,
//     Warranty Until: the date the warranty ends.
//   - Warranty, Warranty Months, Warranty Length, Warranty Period: a length
//     such as "36", "36 months" or "3 years", as Snipe-IT exports it. With
//     a purchase date and no warranty end date, the end is counted from the
//     purchase date (a month later than 31 January is the last day of
//     February); without a purchase date the length is kept in the notes.
//   - OS End of Support, End of Support, EOL, EOL Date, End of Life: a date,
//     or a number of months counted from the purchase date as for Warranty.
//   - Shared: yes or no (also y, true, 1; n, false, 0); empty means no.
//   - Notes, Note, Comments.
//   - Name, Asset Name, Device Name: kept at the start of the notes as
//     "Name: …", since the register has no name field.
//
// Other columns are listed in [Result.Ignored] and not imported; so is an
// unnamed column, such as column F, when any row has a value in it.
//
// # Categories
//
// Kind and Category take Rollcall's kinds (laptop, desktop, tablet, phone,
// camera, projector, other) or a Snipe-IT category name, singular or
// plural: Laptop, Notebook, Chromebook and MacBook are laptops; Desktop,
// PC, All-in-one, Workstation and iMac are desktops; Tablet and iPad are
// tablets; Phone, Mobile, Mobile Phone, Smartphone and iPhone are phones;
// Camera, Document Camera and Visualiser are cameras; Projector is a
// projector. Any other category is imported as "other" with no problem,
// and the category is kept at the start of the notes ("Category:
// Interactive Whiteboard") so that it is not lost. An empty cell, or a
// file with no such column, takes [Options.DefaultKind]; when that is empty
// too, the row (or the file) is a problem.
//
// # Statuses
//
// Status takes Rollcall's statuses, as names (in_stock) or words (In
// Stock), and Snipe-IT's usual labels:
//
//   - Ready to Deploy, Deployable, Available, In Stock, Spare: in_stock.
//   - Deployed, Checked Out, Assigned, In Use: assigned.
//   - Pending, Out for Repair, Repair, In Repair, Awaiting Repair: in_repair.
//   - Lost, Stolen, Lost/Stolen, Missing: lost.
//   - Archived, Retired, Broken - Not Fixable, Undeployable: retired.
//   - Disposed, Disposed Of, Recycled: disposed.
//
// A label with a status type after it in brackets, such as "Ready to Deploy
// (Deployable)", is read by either part. An empty or missing status is
// in_stock. Kit whose status reads as in_stock but whose row names a holder
// (Checked Out To and so on) is assigned, as Snipe-IT shows a deployable
// asset that is checked out as "Deployed".
//
// "On Loan" (and on_loan, Loaned, Lent) is a problem, not a status to
// import: a loan in Rollcall has a borrower, a due date and a signed
// agreement, which a CSV row cannot carry, and kit marked on loan without
// a loan record could never be checked back in. Import such kit as
// "assigned", with Checked Out To, then record the loan in Rollcall. An
// export of kit on loan therefore does not re-import until it is changed.
// Any other status is a problem that lists the accepted ones.
//
// # Dates
//
// Dates are read day first, the UK way: dd/mm/yyyy, also written d/m/yyyy,
// dd-mm-yyyy or dd.mm.yyyy. A date that only makes sense month first, such
// as 09/13/2023, is a problem that says so; one that makes sense either way,
// such as 04/05/2023, is always 4 May 2023. Year-first dates, yyyy-mm-dd
// (or with / or . between), are read as written, and either form may have
// a time after it (yyyy-mm-dd hh:mm:ss, as Snipe-IT exports), which is
// dropped. A two-digit year, an impossible date such as 31/02/2024, and a
// year outside 1980 to 2099 are problems. Dates are stored as midnight UTC.
//
// # Costs
//
// Costs are pounds and pence, with or without a £ sign and spaces around
// it, and with or without commas between thousands: "499.99", "£499.99",
// "1,299.00", "1299" and " £ 12.5 " are all read. A negative cost, more
// than two decimal places, or anything that is not a number is a problem.
// In a semicolon-separated file the comma is the decimal point and a full
// stop or space separates thousands ("1.299,00"). An empty cost is not
// recorded (zero).
//
// # Writing
//
// [Write] writes the register with the columns of [Header], which [Parse]
// reads back to the same assets, apart from what the file does not carry
// (IDs, school, device link, times) and spaces at either end of the notes. Dates are yyyy-mm-dd, costs are pounds
// with two decimal places, and the file starts with a UTF-8 byte-order mark
// so that Excel opens it as UTF-8. To stop a spreadsheet running a cell as
// a formula, a cell that starts with =, +, -, @, a tab or a carriage return
// is written with a single quote (') in front; [Parse] removes one such
// quote when it comes before one of those characters, so the value comes
// back as it was. (A cell that already starts with ' before one of them
// gets one more, so that it too comes back as it was.) A cell read in is data, formula or not: an import
// accepts "=HYPERLINK(…)" in the notes and stores it as text.
package registercsv
