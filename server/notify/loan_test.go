package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/server/notify"
)

func TestLoanMessages(t *testing.T) {
	// 23:30 UTC is 00:30 the next day in London in summer, so the dates
	// below also check the time zone.
	loan := notify.Loan{
		School:         "St Mary's Primary",
		Borrower:       "Jo Bloggs",
		Device:         "Laptop: Dell Latitude 5440 (serial ABC123, asset tag ST-0042)",
		Reason:         "Marking at home over the summer",
		ExpectedReturn: time.Date(2027, 9, 9, 23, 30, 0, 0, time.UTC),
		DeclineReason:  "No laptops are free until September",
		CheckDue:       time.Date(2027, 7, 22, 23, 30, 0, 0, time.UTC),
		Link:           "https://rollcall.school.example/loans/42",
	}
	to := []string{"someone@school.example"}
	tests := []struct {
		name        string
		build       func([]string, notify.Loan) notify.Message
		subject     string
		bodyHas     []string
		bodyHasNot  []string
		openEnded   bool // build with no ExpectedReturn
		notYetChose bool // build with no device chosen
	}{
		{name: "ApprovalNeeded", build: notify.ApprovalNeeded,
			subject: "Loan request needs your approval: Jo Bloggs, laptop",
			bodyHas: []string{"Jo Bloggs has asked", "St Mary's Primary", "Dell Latitude 5440", "Marking at home", "Return by: Friday 10 September 2027", "approve or decline", "because you approve staff loans at St Mary's Primary"}},
		{name: "ApprovalNeededOpenEnded", build: notify.ApprovalNeeded, openEnded: true, notYetChose: true,
			subject: "Loan request needs your approval: Jo Bloggs, laptop",
			bodyHas: []string{"Device: a laptop (not yet chosen)", "Return by: open-ended, no return date"}},
		{name: "Approved", build: notify.Approved,
			subject: "Your laptop loan is approved: please sign the agreement",
			bodyHas: []string{"Hello Jo Bloggs,", "has been approved", "Dell Latitude 5440", "read and sign the loan agreement", "because you asked to borrow a device from St Mary's Primary"}},
		{name: "Declined", build: notify.Declined,
			subject:    "Your laptop loan request was declined",
			bodyHas:    []string{"Hello Jo Bloggs,", "has been declined", "The reason given: No laptops are free until September"},
			bodyHasNot: []string{"No reason was given"}},
		{name: "Signed", build: notify.Signed,
			subject: "Loan signed, ready to hand over: Jo Bloggs, laptop",
			bodyHas: []string{"Jo Bloggs has signed", "ready to hand over", "serial ABC123, asset tag ST-0042", "because you look after devices at St Mary's Primary"}},
		{name: "CheckDue", build: notify.CheckDue,
			subject: "Loan check due by Friday 23 July 2027: Jo Bloggs, laptop",
			bodyHas: []string{"bring the device in to be checked by Friday 23 July 2027", "ST-0042", "on loan to Jo Bloggs from St Mary's Primary"}},
		{name: "CheckOverdue", build: notify.CheckOverdue,
			subject: "Loan check overdue (due Friday 23 July 2027): Jo Bloggs, laptop",
			bodyHas: []string{"was due to be checked on Friday 23 July 2027", "as soon as you can", "ST-0042"}},
		{name: "HandedOver", build: notify.HandedOver,
			subject: "Your laptop is now on loan to you",
			bodyHas: []string{"Hello Jo Bloggs,", "now on loan to you from St Mary's Primary", "Return by: Friday 10 September 2027", "keep a copy of your signed loan agreement"}},
		{name: "Returned", build: notify.Returned,
			subject: "Your loaned laptop has been returned: thank you",
			bodyHas: []string{"Hello Jo Bloggs,", "received the device back", "Thank you", "Dell Latitude 5440"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := loan
			if tc.openEnded {
				l.ExpectedReturn = time.Time{}
			}
			if tc.notYetChose {
				l.Device = "a laptop (not yet chosen)"
			}
			m := tc.build(to, l)
			if len(m.To) != 1 || m.To[0] != to[0] {
				t.Errorf("To = %q, want %q", m.To, to)
			}
			if m.Subject != tc.subject {
				t.Errorf("subject = %q, want %q", m.Subject, tc.subject)
			}
			if !strings.HasPrefix(m.Kind, "loan.") || strings.Contains(m.Kind, " ") {
				t.Errorf("kind = %q, want a name for logs such as loan.approved", m.Kind)
			}
			for _, want := range tc.bodyHas {
				if !strings.Contains(m.Body, want) {
					t.Errorf("body lacks %q:\n%s", want, m.Body)
				}
			}
			for _, unwanted := range append(tc.bodyHasNot, "%!", "\n\n\n") {
				if strings.Contains(m.Body, unwanted) {
					t.Errorf("body holds %q:\n%s", unwanted, m.Body)
				}
			}
			lines := strings.Split(strings.TrimSuffix(m.Body, "\n"), "\n")
			if last := lines[len(lines)-1]; last != l.Link {
				t.Errorf("last line = %q, want the link", last)
			}
			if why := lines[len(lines)-2]; !strings.HasPrefix(why, "You are getting this email because ") {
				t.Errorf("second-last line = %q, want why they got it", why)
			}
		})
	}
}

func TestDeclined_NoReason(t *testing.T) {
	m := notify.Declined(nil, notify.Loan{School: "St Mary's", Borrower: "Jo", Device: "a tablet (not yet chosen)", Link: "https://x.example/loans/1"})
	if !strings.Contains(m.Body, "No reason was given.") {
		t.Errorf("body lacks the missing reason:\n%s", m.Body)
	}
	if want := "Your tablet loan request was declined"; m.Subject != want {
		t.Errorf("subject = %q, want %q", m.Subject, want)
	}
}

func TestLoanMessages_DeviceKind(t *testing.T) {
	tests := []struct{ device, want string }{
		{"Laptop: Dell Latitude 5440 (serial ABC123)", "laptop"},
		{"a laptop (not yet chosen)", "laptop"},
		{"an iPad (not yet chosen)", "iPad"},
		{"iPad: iPad Air (serial X)", "iPad"},
		{"USB stick: SanDisk 64GB", "USB stick"},
		{"Visualiser", "visualiser"},
		{"", "device"},
	}
	for _, tc := range tests {
		got := notify.HandedOver(nil, notify.Loan{Device: tc.device}).Subject
		if want := "Your " + tc.want + " is now on loan to you"; got != want {
			t.Errorf("device %q: subject = %q, want %q", tc.device, got, want)
		}
	}
}
