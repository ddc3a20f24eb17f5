package notify_test

import (
	"context"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/server/notify"
	"github.com/rollcall/rollcall/server/notify/mailtest"
)

func TestConfig_Validate(t *testing.T) {
	good := notify.Config{Host: "smtp.school.example", From: "Rollcall <rollcall@school.example>"}
	with := func(f func(*notify.Config)) notify.Config {
		c := good
		f(&c)
		return c
	}
	tests := []struct {
		name string
		c    notify.Config
		want string // "" for no error
	}{
		{"MailOff", notify.Config{}, ""},
		{"Good", good, ""},
		{"GoodFull", with(func(c *notify.Config) {
			c.Port, c.Username, c.Password, c.Security, c.Timeout = 465, "rollcall", "pw", "tls", time.Minute
		}), ""},
		{"BareFrom", with(func(c *notify.Config) { c.From = "rollcall@school.example" }), ""},
		{"NoFrom", with(func(c *notify.Config) { c.From = "" }), "smtp from: required when mail is on"},
		{"BadFrom", with(func(c *notify.Config) { c.From = "x" }), `smtp from: "x" is not an email address`},
		{"TwoFroms", with(func(c *notify.Config) { c.From = "a@b.example, c@d.example" }), `smtp from: "a@b.example, c@d.example" is not an email address`},
		{"HostWithPort", with(func(c *notify.Config) { c.Host = "smtp.school.example:587" }), `smtp host: "smtp.school.example:587" has a port in it; set the port on its own`},
		{"HostURL", with(func(c *notify.Config) { c.Host = "smtp://smtp.school.example" }), `smtp host: "smtp://smtp.school.example" is not a host name`},
		{"IPv6Host", with(func(c *notify.Config) { c.Host = "::1" }), ""},
		{"BadPort", with(func(c *notify.Config) { c.Port = 70000 }), "smtp port: 70000 is not a port number"},
		{"BadSecurity", with(func(c *notify.Config) { c.Security = "ssl" }), `smtp security: "ssl" must be starttls, tls or none`},
		{"UsernameNoPassword", with(func(c *notify.Config) { c.Username = "rollcall" }), "smtp password: required when smtp username is set"},
		{"PasswordNoUsername", with(func(c *notify.Config) { c.Password = "pw" }), "smtp username: required when smtp password is set"},
		{"PasswordInClear", with(func(c *notify.Config) { c.Username, c.Password, c.Security = "rollcall", "pw", "none" }),
			"smtp security: none would send the password to smtp.school.example unencrypted; use starttls or tls"},
		{"PasswordToLocalhost", with(func(c *notify.Config) {
			c.Host, c.Username, c.Password, c.Security = "127.0.0.1", "rollcall", "pw", "none"
		}), ""},
		{"NegativeTimeout", with(func(c *notify.Config) { c.Timeout = -time.Second }), "smtp timeout: -1s is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if err := tc.c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewSMTP_Invalid(t *testing.T) {
	if _, err := notify.NewSMTP(notify.Config{}); err == nil {
		t.Error("NewSMTP with no host: no error")
	}
	_, err := notify.NewSMTP(notify.Config{Host: "smtp.school.example", From: "x"})
	if err == nil || !strings.Contains(err.Error(), "smtp from") {
		t.Errorf("NewSMTP with a bad from: err = %v, want one naming smtp from", err)
	}
}

// mustSMTP returns an SMTP sending to srv.
func mustSMTP(t testing.TB, srv *mailtest.Server) *notify.SMTP {
	t.Helper()
	s, err := notify.NewSMTP(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSMTP_RoundTrip(t *testing.T) {
	srv := mailtest.Start(t)
	body := "Dear Zoë,\n\nThe replacement charger costs £25.\n" +
		strings.Repeat("This line is long enough that quoted-printable has to wrap it. ", 3) + "\n"
	err := mustSMTP(t, srv).Send(context.Background(), notify.Message{
		To:      []string{"Zoë Brontë <zoe@school.test>", "tech@school.test"},
		Subject: "Loan for Zoë: £25 charger",
		Body:    body,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, func(mailtest.Mail) bool { return true })
	if want := "Loan for Zoë: £25 charger"; got.Subject != want {
		t.Errorf("subject = %q, want %q", got.Subject, want)
	}
	if got.Body != body {
		t.Errorf("body = %q, want %q", got.Body, body)
	}
	if want := []string{"zoe@school.test", "tech@school.test"}; !slices.Equal(got.To, want) {
		t.Errorf("recipients = %q, want %q", got.To, want)
	}
	from, err := mail.ParseAddress(got.From)
	if err != nil || from.Name != "Rollcall" || from.Address != "rollcall@school.test" {
		t.Errorf("from = %q, want Rollcall <rollcall@school.test>", got.From)
	}
	if !strings.Contains(string(got.Raw), "Auto-Submitted: auto-generated") {
		t.Error("no Auto-Submitted header")
	}
}

func TestSMTP_SubjectLineBreaks(t *testing.T) {
	srv := mailtest.Start(t)
	err := mustSMTP(t, srv).Send(context.Background(), notify.Message{
		To:      []string{"jo@school.test"},
		Subject: "Hello\r\nBcc: evil@attacker.example\nX-Evil: 1",
		Body:    "Hi",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, func(mailtest.Mail) bool { return true })
	if want := "Hello Bcc: evil@attacker.example X-Evil: 1"; got.Subject != want {
		t.Errorf("subject = %q, want %q", got.Subject, want)
	}
	if want := []string{"jo@school.test"}; !slices.Equal(got.To, want) {
		t.Errorf("recipients = %q, want %q", got.To, want)
	}
	header, _, _ := strings.Cut(string(got.Raw), "\r\n\r\n")
	for line := range strings.SplitSeq(header, "\r\n") {
		if strings.HasPrefix(line, "Bcc:") || strings.HasPrefix(line, "X-Evil:") {
			t.Errorf("injected header line %q", line)
		}
	}
}

func TestSMTP_BadRecipient(t *testing.T) {
	srv := mailtest.Start(t)
	s := mustSMTP(t, srv)
	for _, to := range [][]string{nil, {"not an address"}} {
		if err := s.Send(context.Background(), notify.Message{To: to, Subject: "x", Body: "x"}); err == nil {
			t.Errorf("Send to %q: no error", to)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages arrived, want 0", n)
	}
}

func TestSMTP_Auth(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithAuth("rollcall", "s3cret"))
	m := notify.Message{To: []string{"jo@school.test"}, Subject: "With auth", Body: "Hi"}
	if err := mustSMTP(t, srv).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	srv.Wait(t, func(got mailtest.Mail) bool { return got.Subject == "With auth" })

	t.Run("WrongPassword", func(t *testing.T) {
		c := srv.Config()
		c.Password = "wrong"
		s, err := notify.NewSMTP(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), m); err == nil {
			t.Error("Send with the wrong password: no error")
		}
	})
	t.Run("NoUsername", func(t *testing.T) {
		c := srv.Config()
		c.Username, c.Password = "", ""
		s, err := notify.NewSMTP(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), m); err == nil {
			t.Error("Send without authenticating: no error")
		}
	})
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages arrived, want 1", n)
	}
}

func TestSMTP_Refused(t *testing.T) {
	c := mailtest.Start(t).Config()
	c.Port = freePort(t)
	s, err := notify.NewSMTP(c)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), notify.Message{To: []string{"jo@school.test"}, Subject: "x", Body: "x"})
	if err == nil {
		t.Error("Send to a closed port: no error")
	}
}

func TestDiscard(t *testing.T) {
	var buf syncBuffer
	d := notify.Discard{Logger: newLogger(&buf)}
	if err := d.Send(context.Background(), notify.Message{To: []string{"jo@school.test"}, Subject: "Loan approved", Body: "secret-link"}); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	if !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "Loan approved") {
		t.Errorf("log = %q, want a debug line naming the subject", got)
	}
	if strings.Contains(got, "secret-link") {
		t.Errorf("log holds the body: %q", got)
	}
	if err := (notify.Discard{}).Send(context.Background(), notify.Message{}); err != nil {
		t.Errorf("Discard with no logger: %v", err)
	}
}
