package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/server/notify"
)

func TestPINMessages(t *testing.T) {
	at := time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC)
	m := notify.PINViewed([]string{"nm@it.example"}, notify.PINView{School: "St Mary's", Device: "iPad (serial DMPX1)", Kind: "Device passcode",
		Viewer: "Tess Tech", Reason: "Reset for a new class", At: at, Addr: "10.0.0.5", Link: "https://rollcall.test/pins"})
	for _, want := range []string{"Tess Tech was shown a stored device passcode at St Mary's", "DMPX1", "Reset for a new class", "Wednesday 2 December 2026 at 09:30", "10.0.0.5", "https://rollcall.test/pins"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("PINViewed body lacks %q:\n%s", want, m.Body)
		}
	}
	if m.Kind != "pin.viewed" || !strings.Contains(m.Subject, "St Mary's") {
		t.Errorf("PINViewed: kind %q, subject %q", m.Kind, m.Subject)
	}
	d := notify.PINDigest([]string{"nm@it.example"}, "St Mary's", at.AddDate(0, 0, -7), []notify.PINLogLine{
		{At: at, Who: "Tess Tech", Action: "viewed", Kind: "Firmware password", Device: "Dell Latitude (serial SN1)", Reason: "BIOS update"},
		{At: at, Who: "Sam Teacher", Action: "used", Kind: "Device passcode", Device: "iPad (serial DMPX1)"},
	}, "https://rollcall.test/pins")
	for _, want := range []string{"since Wednesday 25 November 2026", "Tess Tech viewed the firmware password of Dell Latitude (serial SN1) (BIOS update)", "Sam Teacher used the device passcode of iPad (serial DMPX1)\n"} {
		if !strings.Contains(d.Body, want) {
			t.Errorf("PINDigest body lacks %q:\n%s", want, d.Body)
		}
	}
	if !strings.Contains(d.Subject, "2 entries") {
		t.Errorf("digest subject %q", d.Subject)
	}
	if empty := notify.PINDigest(nil, "St Mary's", at, nil, "x"); !strings.Contains(empty.Body, "Nothing was recorded") {
		t.Errorf("empty digest:\n%s", empty.Body)
	}
}
