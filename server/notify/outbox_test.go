package notify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall/rollcall/server/notify"
	"github.com/rollcall/rollcall/server/notify/mailtest"
)

// syncBuffer is a bytes.Buffer that the Outbox's worker can write to
// while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger(b *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// freePort returns a port on 127.0.0.1 that nothing listens on.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// SenderFunc adapts a function to [notify.Sender].
type SenderFunc func(ctx context.Context, m notify.Message) error

func (f SenderFunc) Send(ctx context.Context, m notify.Message) error { return f(ctx, m) }

// counts reads the Outbox's counters from reg.
func counts(t testing.TB, reg *prometheus.Registry) (sent, failed, dropped float64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		v := f.GetMetric()[0].GetCounter().GetValue()
		switch f.GetName() {
		case "rollcall_mail_sent_total":
			sent = v
		case "rollcall_mail_failed_total":
			failed = v
		case "rollcall_mail_dropped_total":
			dropped = v
		}
	}
	return sent, failed, dropped
}

func checkCounts(t testing.TB, reg *prometheus.Registry, sent, failed, dropped float64) {
	t.Helper()
	s, f, d := counts(t, reg)
	if s != sent || f != failed || d != dropped {
		t.Errorf("sent, failed, dropped = %v, %v, %v; want %v, %v, %v", s, f, d, sent, failed, dropped)
	}
}

func closeOutbox(t testing.TB, o *notify.Outbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

var fast = []time.Duration{time.Millisecond, time.Millisecond}

func TestOutbox_Delivers(t *testing.T) {
	srv := mailtest.Start(t)
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	o := notify.NewOutbox(newLogger(&logs), mustSMTP(t, srv), notify.OutboxOptions{Backoff: fast, Registerer: reg})
	o.Send(notify.Message{To: []string{"jo@school.test"}, Subject: "Hello", Body: "Hi Jo"})
	got := srv.Wait(t, func(m mailtest.Mail) bool { return m.Subject == "Hello" })
	if want := "Hi Jo\n"; got.Body != want { // SMTP ends the message with a line end
		t.Errorf("body = %q, want %q", got.Body, want)
	}
	closeOutbox(t, o)
	checkCounts(t, reg, 1, 0, 0)
}

func TestOutbox_NoRecipients(t *testing.T) {
	reg := prometheus.NewRegistry()
	var calls int
	var logs syncBuffer
	o := notify.NewOutbox(newLogger(&logs), SenderFunc(func(context.Context, notify.Message) error {
		calls++
		return nil
	}), notify.OutboxOptions{Registerer: reg})
	o.Send(notify.Message{Subject: "Nobody", Body: "x"})
	closeOutbox(t, o)
	if calls != 0 {
		t.Errorf("sender called %d times, want 0", calls)
	}
	checkCounts(t, reg, 0, 0, 0)
}

func TestOutbox_Retries(t *testing.T) {
	srv := mailtest.Start(t)
	smtp := mustSMTP(t, srv)
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	tries := 0
	flaky := SenderFunc(func(ctx context.Context, m notify.Message) error {
		tries++
		if tries <= 2 {
			return errors.New("451 try again later")
		}
		return smtp.Send(ctx, m)
	})
	o := notify.NewOutbox(newLogger(&logs), flaky, notify.OutboxOptions{Backoff: fast, Registerer: reg})
	o.Send(notify.Message{To: []string{"jo@school.test"}, Subject: "Third time lucky", Body: "sign at https://rollcall.test/sign/TOKEN123"})
	closeOutbox(t, o)
	if tries != 3 {
		t.Errorf("tries = %d, want 3", tries)
	}
	srv.Wait(t, func(m mailtest.Mail) bool { return m.Subject == "Third time lucky" })
	checkCounts(t, reg, 1, 0, 0)
	if n := strings.Count(logs.String(), "will retry"); n != 2 {
		t.Errorf("%d retry lines logged, want 2:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "TOKEN123") {
		t.Errorf("log holds the body:\n%s", logs.String())
	}
}

func TestOutbox_Fails(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	tries := 0
	o := notify.NewOutbox(newLogger(&logs), SenderFunc(func(context.Context, notify.Message) error {
		tries++
		return errors.New("554 relay refused")
	}), notify.OutboxOptions{Backoff: fast, Registerer: reg})
	o.Send(notify.Message{
		To:      []string{"jo@school.test", "head@school.test"},
		Subject: "Loan approved: Jo Bloggs, laptop",
		Body:    "Sign your agreement at https://rollcall.test/sign/SECRET-TOKEN",
		Kind:    "loan.approved",
	})
	closeOutbox(t, o)
	if tries != 3 {
		t.Errorf("tries = %d, want 3", tries)
	}
	checkCounts(t, reg, 0, 1, 0)
	got := logs.String()
	for _, want := range []string{"level=ERROR", "kind=loan.approved", "recipients=2", "tries=3", "554 relay refused"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	for _, secret := range []string{"SECRET-TOKEN", "Sign your agreement", "jo@school.test", "Jo Bloggs"} {
		if strings.Contains(got, secret) {
			t.Errorf("log holds %q:\n%s", secret, got)
		}
	}
}

func TestOutbox_DropsWhenFull(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	started, release := make(chan struct{}), make(chan struct{})
	var sent []string
	o := notify.NewOutbox(newLogger(&logs), SenderFunc(func(_ context.Context, m notify.Message) error {
		if m.Subject == "first" {
			close(started)
			<-release
		}
		sent = append(sent, m.Subject)
		return nil
	}), notify.OutboxOptions{QueueSize: 1, Registerer: reg})
	msg := func(subject string) notify.Message {
		return notify.Message{To: []string{"jo@school.test"}, Subject: subject, Body: "body text", Kind: "test." + subject}
	}
	o.Send(msg("first"))
	<-started // the worker holds "first"
	o.Send(msg("second"))
	done := make(chan struct{})
	go func() {
		o.Send(msg("third")) // the queue is full
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Send blocked on a full queue")
	}
	close(release)
	closeOutbox(t, o)
	if want := "first,second"; strings.Join(sent, ",") != want {
		t.Errorf("sent %q, want %q", sent, want)
	}
	checkCounts(t, reg, 2, 0, 1)
	got := logs.String()
	if !strings.Contains(got, "queue full") || !strings.Contains(got, "kind=test.third") {
		t.Errorf("log lacks the drop:\n%s", got)
	}
	if strings.Contains(got, "body text") {
		t.Errorf("log holds the body:\n%s", got)
	}

	o.Send(msg("after close"))
	checkCounts(t, reg, 2, 0, 2)
}

func TestOutbox_CloseDrains(t *testing.T) {
	srv := mailtest.Start(t)
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	o := notify.NewOutbox(newLogger(&logs), mustSMTP(t, srv), notify.OutboxOptions{Registerer: reg})
	for i := range 5 {
		o.Send(notify.Message{To: []string{"jo@school.test"}, Subject: fmt.Sprint("message ", i), Body: "x"})
	}
	closeOutbox(t, o)
	if n := len(srv.Messages()); n != 5 {
		t.Errorf("%d messages arrived before Close returned, want 5", n)
	}
	checkCounts(t, reg, 5, 0, 0)
}

func TestOutbox_CloseGivesUp(t *testing.T) {
	var logs syncBuffer
	stuck := SenderFunc(func(ctx context.Context, _ notify.Message) error {
		<-ctx.Done()
		return ctx.Err()
	})
	o := notify.NewOutbox(newLogger(&logs), stuck, notify.OutboxOptions{})
	o.Send(notify.Message{To: []string{"jo@school.test"}, Subject: "stuck", Body: "x"})
	o.Send(notify.Message{To: []string{"jo@school.test"}, Subject: "queued", Body: "x"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := o.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want a deadline error", err)
	}
}
