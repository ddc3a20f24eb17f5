// Package mailtest runs a real SMTP server on 127.0.0.1 for tests, and
// decodes what it receives, so a test can check the emails a
// [notify.Sender] sent.
package mailtest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/rollcall/rollcall/server/notify"
)

// WaitTimeout is how long [Server.Wait] waits.
const WaitTimeout = 10 * time.Second

// Mail is one received message, parsed.
type Mail struct {
	// From is the From header, decoded.
	From string
	// To holds the envelope recipients (RCPT TO), in order.
	To []string
	// Subject is the Subject header, decoded.
	Subject string
	// Body is the text of the message, or of its first text/plain part,
	// with quoted-printable or base64 undone and line ends as "\n". SMTP
	// ends every message with a line end, so a body sent without one
	// arrives with one.
	Body string
	// Raw is the message as it arrived.
	Raw []byte
}

// Server is an SMTP server that keeps every message it receives.
type Server struct {
	srv      *smtp.Server
	addr     string
	username string
	password string

	mu      sync.Mutex
	msgs    []Mail
	arrived chan struct{} // closed and replaced when a message arrives
}

// Option changes how [Start] sets up the server.
type Option func(*Server)

// WithAuth makes the server require AUTH PLAIN with username and
// password, over the plain-text connection.
func WithAuth(username, password string) Option {
	return func(s *Server) { s.username, s.password = username, password }
}

// Start starts a server on 127.0.0.1 at a free port. It stops when the
// test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{arrived: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.addr = l.Addr().String()
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{s: s}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.EnableSMTPUTF8 = true
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.srv.Serve(l) // returns when Close is called
	}()
	t.Cleanup(func() {
		_ = s.srv.Close()
		// Close misses the listener if Serve has not registered it yet.
		_ = l.Close()
		<-served
	})
	return s
}

// Addr returns the server's address, "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr }

// Config returns a [notify.Config] that sends to the server, with the
// username and password given to [WithAuth].
func (s *Server) Config() notify.Config {
	host, port, _ := net.SplitHostPort(s.addr)
	p, _ := strconv.Atoi(port)
	return notify.Config{
		Host:     host,
		Port:     p,
		Username: s.username,
		Password: s.password,
		From:     "Rollcall <rollcall@school.test>",
		Security: notify.SecurityNone,
		Timeout:  10 * time.Second,
	}
}

// Messages returns the messages received so far, oldest first.
func (s *Server) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.msgs...)
}

// Wait returns the first received message for which match is true,
// waiting up to [WaitTimeout] for it. If none comes, it calls t.Fatal with
// a list of what did arrive.
func (s *Server) Wait(t testing.TB, match func(Mail) bool) Mail {
	t.Helper()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			if match(m) {
				s.mu.Unlock()
				return m
			}
		}
		arrived := s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline.C:
			var b strings.Builder
			for _, m := range s.Messages() {
				fmt.Fprintf(&b, "\n  to %v: %q", m.To, m.Subject)
			}
			if b.Len() == 0 {
				b.WriteString(" none")
			}
			t.Fatalf("mailtest: no matching message within %s; received:%s", WaitTimeout, b.String())
		}
	}
}

// add keeps m and wakes anyone waiting.
func (s *Server) add(m Mail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// session is one SMTP connection.
type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (se *session) AuthMechanisms() []string {
	if se.s.username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if se.s.username == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != se.s.username || password != se.s.password {
			return smtp.ErrAuthFailed
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.username != "" && !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "mailtest: " + err.Error()}
	}
	m.To = append([]string(nil), se.to...)
	se.s.add(m)
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

// parse decodes the headers and text of a message.
func parse(raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, fmt.Errorf("read message: %w", err)
	}
	var dec mime.WordDecoder
	from, err := dec.DecodeHeader(msg.Header.Get("From"))
	if err != nil {
		return Mail{}, fmt.Errorf("from header: %w", err)
	}
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Mail{}, fmt.Errorf("subject header: %w", err)
	}
	body, err := text(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	if err != nil {
		return Mail{}, err
	}
	return Mail{From: from, Subject: subject, Body: strings.ReplaceAll(body, "\r\n", "\n"), Raw: raw}, nil
}

// text returns the decoded text of a part, looking inside multipart parts
// for the first text/plain one.
func text(contentType, encoding string, r io.Reader) (string, error) {
	mediaType, params := "text/plain", map[string]string{}
	if contentType != "" {
		var err error
		if mediaType, params, err = mime.ParseMediaType(contentType); err != nil {
			return "", fmt.Errorf("content type: %w", err)
		}
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextRawPart() // NextPart would undo quoted-printable itself
			if errors.Is(err, io.EOF) {
				return "", errors.New("no text/plain part")
			}
			if err != nil {
				return "", fmt.Errorf("multipart: %w", err)
			}
			t, err := text(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			if err == nil {
				return t, nil
			}
		}
	}
	if mediaType != "text/plain" {
		return "", fmt.Errorf("content type %s is not text/plain", mediaType)
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	case "", "7bit", "8bit", "binary":
	default:
		return "", fmt.Errorf("unknown transfer encoding %q", encoding)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("decode %s: %w", encoding, err)
	}
	return string(b), nil
}
