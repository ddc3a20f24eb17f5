// Package notify sends Rollcall's emails through the school's SMTP relay.
//
// [SMTP] sends one [Message] with go-mail; [Outbox] queues messages and
// sends them in the background, so that no page waits on the relay; and
// [Discard] stands in when mail is off. The loan builders ([ApprovalNeeded],
// [Approved] and the rest) write the plain-text emails of the loan flow.
//
// Message bodies can hold sign links, so nothing here logs a body.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Config is the SMTP relay. Zero Host means mail is off.
type Config struct {
	// Host is the relay's host name or IP address, without a port.
	Host string
	// Port is the relay's port; 0 means 587 for starttls, 465 for tls and
	// 25 for none.
	Port int
	// Username, when set, turns on PLAIN or LOGIN authentication.
	Username string
	// Password goes with Username. It is never logged.
	Password string
	// From is the sender, such as "Rollcall <rollcall@school.example>".
	From string
	// Security is "starttls" (the default), "tls" or "none". Use none only
	// for a relay on localhost.
	Security string
	// Timeout bounds the connection and each SMTP command; 0 means 30s.
	Timeout time.Duration
}

// The values of [Config.Security].
const (
	SecurityStartTLS = "starttls"
	SecurityTLS      = "tls"
	SecurityNone     = "none"
)

// Validate reports the first setting that is wrong, naming it. A Config
// with no Host is valid: mail is off.
func (c Config) Validate() error {
	if c.Host == "" {
		return nil
	}
	if strings.ContainsAny(c.Host, " \t\r\n/") {
		return fmt.Errorf("smtp host: %q is not a host name", c.Host)
	}
	if _, _, err := net.SplitHostPort(c.Host); err == nil {
		return fmt.Errorf("smtp host: %q has a port in it; set the port on its own", c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("smtp port: %d is not a port number", c.Port)
	}
	if c.From == "" {
		return errors.New("smtp from: required when mail is on")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("smtp from: %q is not an email address", c.From)
	}
	switch c.Security {
	case "", SecurityStartTLS, SecurityTLS, SecurityNone:
	default:
		return fmt.Errorf("smtp security: %q must be starttls, tls or none", c.Security)
	}
	if c.Username == "" && c.Password != "" {
		return errors.New("smtp username: required when smtp password is set")
	}
	if c.Username != "" && c.Password == "" {
		return errors.New("smtp password: required when smtp username is set")
	}
	if c.Username != "" && c.Security == SecurityNone && !isLoopback(c.Host) {
		return fmt.Errorf("smtp security: none would send the password to %s unencrypted; use starttls or tls", c.Host)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("smtp timeout: %s is negative", c.Timeout)
	}
	return nil
}

// isLoopback reports whether host is this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Message is one email.
type Message struct {
	// To holds the recipients' addresses, such as "jo@school.example" or
	// "Jo Bloggs <jo@school.example>".
	To []string
	// Subject is one line; any line breaks in it are sent as spaces.
	Subject string
	// Body is plain text.
	Body string
	// Kind names the message in logs, such as "loan.approved": subjects
	// and bodies name people, so logs never show them.
	Kind string
}

// Sender sends one message.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SMTP is a [Sender] that sends through a relay with go-mail. It is safe
// for concurrent use: each Send makes its own connection.
type SMTP struct {
	host string
	from *mail.Address
	opts []gomail.Option
}

var _ Sender = (*SMTP)(nil)

// NewSMTP checks c with [Config.Validate] and returns an SMTP that sends
// through it. It does not connect.
func NewSMTP(c Config) (*SMTP, error) {
	if c.Host == "" {
		return nil, errors.New("smtp host: required when mail is on")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, fmt.Errorf("smtp from: %q is not an email address", c.From)
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	port := c.Port
	opts := []gomail.Option{gomail.WithTimeout(timeout)}
	switch c.Security {
	case "", SecurityStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		if port == 0 {
			port = gomail.DefaultPortTLS
		}
	case SecurityTLS:
		opts = append(opts, gomail.WithSSL())
		if port == 0 {
			port = gomail.DefaultPortSSL
		}
	case SecurityNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		if port == 0 {
			port = gomail.DefaultPort
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if c.Username != "" {
		// Validate allows none with a password only for a relay on this
		// machine, where nothing crosses the network.
		plain, login := gomail.SMTPAuthPlain, gomail.SMTPAuthLogin
		if c.Security == SecurityNone {
			plain, login = gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc
		}
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(plain, login),
			gomail.WithUsername(c.Username),
			gomail.WithPassword(c.Password))
	}
	s := &SMTP{host: c.Host, from: from, opts: opts}
	if _, err := s.client(); err != nil {
		return nil, err
	}
	return s, nil
}

// client makes a go-mail client. go-mail's Client records what it chose
// during authentication, so each send gets a new one.
func (s *SMTP) client() (*gomail.Client, error) {
	c, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return c, nil
}

// Send sends m in one SMTP session. It fails if m has no recipients or a
// recipient is not an email address.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	if len(m.To) == 0 {
		return errors.New("send mail: no recipients")
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To...); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	msg.Subject(oneLine(m.Subject))
	msg.SetDate()
	msg.SetMessageID()
	msg.SetUserAgent("Rollcall")
	// RFC 3834: tells out-of-office replies to stay quiet.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	c, err := s.client()
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	return nil
}

// oneLine turns every run of white space in s, line breaks included, into
// one space, so s is safe in a header.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Discard is a [Sender] for when mail is off. It logs at debug level that
// a message was not sent, and returns nil. A nil Logger logs nothing.
type Discard struct {
	Logger *slog.Logger
}

var _ Sender = Discard{}

// Send logs that m was not sent.
func (d Discard) Send(ctx context.Context, m Message) error {
	if d.Logger != nil {
		d.Logger.DebugContext(ctx, "mail is off; message not sent", "subject", m.Subject, "recipients", len(m.To))
	}
	return nil
}
