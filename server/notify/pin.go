package notify

import (
	"fmt"
	"strings"
	"time"
)

// PINView is what the email to the network manager says about a PIN
// shown to someone. It never holds the value.
type PINView struct {
	School string
	Device string // "iPad (10th generation) (serial DMPX…, asset tag IPAD-07)"
	Kind   string // "Device passcode"
	Viewer string // "Tess Tech <tess@school.example>"
	Reason string
	At     time.Time
	Addr   string
	Link   string // the PIN log
}

// PINViewed is the email to the network manager when someone else is
// shown a stored PIN or password.
func PINViewed(to []string, v PINView) Message {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello,\n\n%s was shown a stored %s at %s.\n\n", v.Viewer, strings.ToLower(v.Kind), v.School)
	b.WriteString(facts(labelled("Device", v.Device), labelled("What", v.Kind), labelled("Shown to", v.Viewer),
		labelled("When", v.At.In(london).Format("Monday 2 January 2006 at 15:04")), labelled("Reason given", v.Reason),
		labelled("From address", v.Addr)) + "\n\n")
	b.WriteString("If you did not expect this, change the PIN or password on the device, record the new one in Rollcall, and ask the person why they needed it.\n\n")
	fmt.Fprintf(&b, "You are getting this email because you are the network manager for %s in Rollcall, told of every PIN or password shown to someone else. The PIN log:\n%s\n", v.School, v.Link)
	return Message{
		Kind:    "pin.viewed",
		To:      to,
		Subject: fmt.Sprintf("PIN shown: %s, %s", strings.ToLower(v.Kind), v.School),
		Body:    b.String(),
	}
}

// PINLogLine is one line of the weekly digest.
type PINLogLine struct {
	At     time.Time
	Who    string
	Action string // "viewed", "changed", "used", "refused", "retired", "purged"
	Kind   string
	Device string
	Reason string
}

// PINDigest is the weekly email to the network manager: every line of the
// PIN log since the last digest.
func PINDigest(to []string, school string, since time.Time, lines []PINLogLine, link string) Message {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello,\n\nThis is the PIN log of %s since %s.\n\n", school, since.In(london).Format("Monday 2 January 2006 at 15:04"))
	if len(lines) == 0 {
		b.WriteString("Nothing was recorded, viewed or used.\n\n")
	}
	for _, l := range lines {
		fmt.Fprintf(&b, "- %s: %s %s the %s of %s", l.At.In(london).Format("Mon 2 Jan 15:04"), l.Who, l.Action, strings.ToLower(l.Kind), l.Device)
		if l.Reason != "" {
			fmt.Fprintf(&b, " (%s)", l.Reason)
		}
		b.WriteString("\n")
	}
	if len(lines) > 0 {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "You are getting this email because you are the network manager for %s in Rollcall. The PIN log:\n%s\n", school, link)
	return Message{
		Kind:    "pin.digest",
		To:      to,
		Subject: fmt.Sprintf("PIN log for the week: %s (%d entries)", school, len(lines)),
		Body:    b.String(),
	}
}
