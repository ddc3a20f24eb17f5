package notify

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // Europe/London on hosts without a zoneinfo database
	"unicode"
	"unicode/utf8"
)

// Loan is what the loan emails say about a loan.
type Loan struct {
	School   string
	Borrower string
	// Device is, for example, "Laptop: Dell Latitude 5440 (serial ABC123,
	// asset tag ST-0042)", or "a laptop (not yet chosen)". Subjects use
	// its kind: the part before the colon, or the noun before the bracket.
	Device string
	Reason string
	// ExpectedReturn is when the device should come back; zero means the
	// loan is open-ended.
	ExpectedReturn time.Time
	DeclineReason  string
	CheckDue       time.Time
	// Link is the absolute URL of the loan's page.
	Link string
}

// london is the time zone of every date in an email.
var london = mustLoadLocation("Europe/London")

func mustLoadLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // unreachable: time/tzdata is linked in
	}
	return loc
}

// date formats t like "Friday 24 July 2027", in London.
func date(t time.Time) string {
	if t.IsZero() {
		return "no date set"
	}
	return t.In(london).Format("Monday 2 January 2006")
}

// kind returns the short name of the device for a subject: "laptop" for
// both "Laptop: Dell Latitude 5440 (…)" and "a laptop (not yet chosen)".
func (l Loan) kind() string {
	k := l.Device
	if i := strings.Index(k, ":"); i >= 0 {
		k = k[:i]
	}
	if i := strings.Index(k, "("); i >= 0 {
		k = k[:i]
	}
	k = strings.TrimSpace(k)
	for _, article := range []string{"a ", "an ", "A ", "An "} {
		k = strings.TrimPrefix(k, article)
	}
	if k == "" {
		return "device"
	}
	// "Laptop" becomes "laptop"; "iPad" and "USB stick" stay as they are.
	first, n := utf8.DecodeRuneInString(k)
	word, _, _ := strings.Cut(k[n:], " ")
	if unicode.IsUpper(first) && strings.ToLower(word) == word {
		k = string(unicode.ToLower(first)) + k[n:]
	}
	return k
}

// returnBy says when the device should come back.
func (l Loan) returnBy() string {
	if l.ExpectedReturn.IsZero() {
		return "Return by: open-ended, no return date"
	}
	return "Return by: " + date(l.ExpectedReturn)
}

// letter writes a body: the greeting, the paragraphs (a blank line
// between each; empty ones are left out), then why the reader got it and
// the loan's link as the last line.
func letter(l Loan, greeting, why string, paras ...string) string {
	var b strings.Builder
	b.WriteString(greeting + "\n\n")
	for _, p := range paras {
		if p != "" {
			b.WriteString(p + "\n\n")
		}
	}
	fmt.Fprintf(&b, "You are getting this email because %s. The loan's page:\n%s\n", why, l.Link)
	return b.String()
}

// facts joins the non-empty lines into one block.
func facts(lines ...string) string {
	var kept []string
	for _, s := range lines {
		if s != "" {
			kept = append(kept, s)
		}
	}
	return strings.Join(kept, "\n")
}

// labelled returns "label: value", or "" when value is empty.
func labelled(label, value string) string {
	if value == "" {
		return ""
	}
	return label + ": " + value
}

func hello(name string) string {
	if name == "" {
		return "Hello,"
	}
	return "Hello " + name + ","
}

// ApprovalNeeded is the email to the headteacher (or computing leader):
// a loan request needs their approval.
func ApprovalNeeded(to []string, l Loan) Message {
	return Message{
		Kind:    "loan.approval_needed",
		To:      to,
		Subject: fmt.Sprintf("Loan request needs your approval: %s, %s", l.Borrower, l.kind()),
		Body: letter(l, "Hello,",
			"you approve staff loans at "+l.School,
			fmt.Sprintf("%s has asked to borrow a device from %s, and the request needs your approval.", l.Borrower, l.School),
			facts(labelled("Borrower", l.Borrower), labelled("Device", l.Device), labelled("Reason", l.Reason), l.returnBy()),
			"Please approve or decline it on the loan's page, linked below."),
	}
}

// Approved is the email to the borrower: the loan is approved, and they
// should follow the link to read and sign the agreement.
func Approved(to []string, l Loan) Message {
	return Message{
		Kind:    "loan.approved",
		To:      to,
		Subject: fmt.Sprintf("Your %s loan is approved: please sign the agreement", l.kind()),
		Body: letter(l, hello(l.Borrower),
			"you asked to borrow a device from "+l.School,
			fmt.Sprintf("Your request to borrow a device from %s has been approved.", l.School),
			facts(labelled("Device", l.Device), l.returnBy()),
			"Before it can be handed over, please read and sign the loan agreement. Follow the link below to read it and sign."),
	}
}

// Declined is the email to the borrower: the request was declined, with
// the reason.
func Declined(to []string, l Loan) Message {
	reason := "No reason was given."
	if l.DeclineReason != "" {
		reason = "The reason given: " + l.DeclineReason
	}
	return Message{
		Kind:    "loan.declined",
		To:      to,
		Subject: fmt.Sprintf("Your %s loan request was declined", l.kind()),
		Body: letter(l, hello(l.Borrower),
			"you asked to borrow a device from "+l.School,
			fmt.Sprintf("Sorry: your request to borrow a device from %s has been declined.", l.School),
			reason,
			facts(labelled("Device", l.Device), labelled("Your reason for the loan", l.Reason)),
			"If you have questions, please speak to your headteacher."),
	}
}

// Signed is the email to the technicians: the borrower has signed the
// agreement, and the device is ready to hand over.
func Signed(to []string, l Loan) Message {
	return Message{
		Kind:    "loan.signed",
		To:      to,
		Subject: fmt.Sprintf("Loan signed, ready to hand over: %s, %s", l.Borrower, l.kind()),
		Body: letter(l, "Hello,",
			"you look after devices at "+l.School,
			fmt.Sprintf("%s has signed the loan agreement, so the device is ready to hand over.", l.Borrower),
			facts(labelled("Borrower", l.Borrower), labelled("Device", l.Device), l.returnBy()),
			"Please record the hand-over on the loan's page, linked below, when you give it to them."),
	}
}

// CheckDue is the email to the borrower and the technicians: the device
// should be brought in to be checked by l.CheckDue.
func CheckDue(to []string, l Loan) Message {
	return Message{
		Kind:    "loan.check_due",
		To:      to,
		Subject: fmt.Sprintf("Loan check due by %s: %s, %s", date(l.CheckDue), l.Borrower, l.kind()),
		Body: letter(l, "Hello,",
			"the device is on loan to "+l.Borrower+" from "+l.School,
			fmt.Sprintf("%s, please bring the device in to be checked by %s.", l.Borrower, date(l.CheckDue)),
			facts(labelled("Borrower", l.Borrower), labelled("Device", l.Device), labelled("Check due by", date(l.CheckDue)))),
	}
}

// CheckOverdue is the email to the borrower and the technicians: the
// device's check was due on l.CheckDue and has not been done.
func CheckOverdue(to []string, l Loan) Message {
	return Message{
		Kind:    "loan.check_overdue",
		To:      to,
		Subject: fmt.Sprintf("Loan check overdue (due %s): %s, %s", date(l.CheckDue), l.Borrower, l.kind()),
		Body: letter(l, "Hello,",
			"the device is on loan to "+l.Borrower+" from "+l.School,
			fmt.Sprintf("The device on loan to %s was due to be checked on %s, and the check has not been done yet.", l.Borrower, date(l.CheckDue)),
			facts(labelled("Borrower", l.Borrower), labelled("Device", l.Device), labelled("Check was due", date(l.CheckDue))),
			fmt.Sprintf("%s, please bring the device in to be checked as soon as you can.", l.Borrower)),
	}
}

// HandedOver is the email to the borrower: the device is now on loan to
// them, and they should keep their agreement.
func HandedOver(to []string, l Loan) Message {
	return Message{
		Kind:    "loan.handed_over",
		To:      to,
		Subject: fmt.Sprintf("Your %s is now on loan to you", l.kind()),
		Body: letter(l, hello(l.Borrower),
			"a device from "+l.School+" is on loan to you",
			fmt.Sprintf("The device below is now on loan to you from %s.", l.School),
			facts(labelled("Device", l.Device), l.returnBy()),
			"Please keep a copy of your signed loan agreement: you can read it again on the loan's page, linked below."),
	}
}

// Returned is the email to the borrower: the device has been received
// back. Thank you.
func Returned(to []string, l Loan) Message {
	return Message{
		Kind:    "loan.returned",
		To:      to,
		Subject: fmt.Sprintf("Your loaned %s has been returned: thank you", l.kind()),
		Body: letter(l, hello(l.Borrower),
			"you borrowed a device from "+l.School,
			fmt.Sprintf("%s has received the device back, and the loan is closed. Thank you for looking after it.", l.School),
			facts(labelled("Device", l.Device))),
	}
}
