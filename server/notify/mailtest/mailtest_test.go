package mailtest

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	crlf := func(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }
	tests := []struct {
		name, raw, subject, body string
	}{
		{"QuotedPrintable", `From: Rollcall <rollcall@school.test>
Subject: =?UTF-8?q?Zo=C3=AB?=
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

=C2=A325 for Zo=C3=AB, a long line that is=
 wrapped.
`, "Zoë", "£25 for Zoë, a long line that is wrapped.\n"},
		{"Base64Multipart", `From: Rollcall <rollcall@school.test>
Subject: =?UTF-8?b?wqMyNQ==?=
Content-Type: multipart/alternative; boundary=XYZ

--XYZ
Content-Type: text/html; charset=UTF-8

<p>not this</p>
--XYZ
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: base64

wqMyNSBmb3IgWm/DqwpzZWNvbmQg
bGluZQo=
--XYZ--
`, "£25", "£25 for Zoë\nsecond line\n"},
		{"SevenBit", `From: rollcall@school.test
Subject: Plain

Hello
`, "Plain", "Hello\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse(crlf(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != tc.subject {
				t.Errorf("subject = %q, want %q", got.Subject, tc.subject)
			}
			if got.Body != tc.body {
				t.Errorf("body = %q, want %q", got.Body, tc.body)
			}
		})
	}
}
