package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/app"
	"github.com/rollcall/rollcall/server/pki"
)

// env is what every command gets from the process.
type env struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// flags returns a flag set with the flags every command shares.
func (e env) flags(name string) (*flag.FlagSet, *string, *string) {
	fs := flag.NewFlagSet("rollcall "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	def := e.getenv("ROLLCALL_DATA_DIR")
	if def == "" {
		def = "/var/lib/rollcall"
	}
	dataDir := fs.String("data-dir", def, "data directory")
	db := fs.String("db", "", "database URL (postgres://... or sqlite:PATH); default: remembered by serve, else SQLite in the data dir")
	return fs, dataDir, db
}

// parse parses args and refuses stray positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// config returns the data directory's remembered configuration with the
// database chosen by flag, then $ROLLCALL_DB, then the remembered one.
func (e env) config(dataDir, db string) (app.Config, error) {
	c, err := app.LoadConfig(dataDir)
	if err != nil {
		return c, err
	}
	if v := e.getenv("ROLLCALL_DB"); v != "" {
		c.DB = v
	}
	if db != "" {
		c.DB = db
	}
	return c, nil
}

// openStore opens the database a command should use.
func (e env) openStore(ctx context.Context, dataDir, db string) (inventory.Store, app.Config, error) {
	c, err := e.config(dataDir, db)
	if err != nil {
		return nil, c, err
	}
	s, err := app.OpenStore(ctx, dataDir, c.DB)
	return s, c, err
}

func (e env) serve(ctx context.Context, args []string) error {
	fs, dataDir, db := e.flags("serve")
	agentAddr := fs.String("agent-addr", "", "agent API listen address (default "+app.DefaultAgentAddr+")")
	httpAddr := fs.String("http-addr", "", "web and REST listen address (default "+app.DefaultHTTPAddr+")")
	advertise := fs.String("advertise", "", "host:port that agents dial, written into enrolment tokens (default: this host's name and the agent port)")
	trustProxy := fs.Bool("trust-proxy", false, "the dashboard is behind a reverse proxy: take the client's address from X-Forwarded-For (remembered)")
	publicURL := fs.String("public-url", "", "the dashboard's address as people reach it, for links in emails, e.g. https://rollcall.school.example (remembered)")
	var smtp app.SMTPConfig
	fs.StringVar(&smtp.Host, "smtp-host", "", "the school's mail relay; without it Rollcall sends no email; \"off\" forgets it (remembered)")
	fs.IntVar(&smtp.Port, "smtp-port", 0, "the relay's port (default 587 for starttls, 465 for tls, 25 for none) (remembered)")
	fs.StringVar(&smtp.Username, "smtp-user", "", "user name at the relay; the password is read from $ROLLCALL_SMTP_PASSWORD (remembered)")
	fs.StringVar(&smtp.From, "smtp-from", "", `sender of Rollcall's emails, e.g. "Rollcall <rollcall@school.example>" (remembered)`)
	fs.StringVar(&smtp.Security, "smtp-security", "", "starttls (default), tls, or none for a relay on this machine (remembered)")
	if err := parse(fs, args); err != nil {
		return err
	}
	remembered, err := app.LoadConfig(*dataDir)
	if err != nil {
		return err
	}
	// Remember what the flags say; $ROLLCALL_DB overrides only this run.
	saved := remembered.Merge(app.Config{DB: *db, AgentAddr: *agentAddr, HTTPAddr: *httpAddr, Advertise: *advertise, TrustProxy: *trustProxy, PublicURL: *publicURL, SMTP: smtp})
	if saved.AgentAddr == "" {
		saved.AgentAddr = app.DefaultAgentAddr
	}
	if saved.HTTPAddr == "" {
		saved.HTTPAddr = app.DefaultHTTPAddr
	}
	cfg := saved
	if v := e.getenv("ROLLCALL_DB"); v != "" && *db == "" {
		cfg.DB = v
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, nil))
	slog.SetDefault(logger)
	a, err := app.Start(ctx, app.Options{DataDir: *dataDir, Config: cfg, Logger: logger, Remember: &saved, SMTPPassword: e.getenv("ROLLCALL_SMTP_PASSWORD")})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Rollcall is serving agents on %s (advertised as %s) and the web on http://%s/\n", a.AgentAddr, a.Advertise, a.HTTPAddr)
	return a.Wait(ctx)
}

func (e env) userAdd(ctx context.Context, args []string) error {
	fs, dataDir, db := e.flags("user add")
	email := fs.String("email", "", "email address (required)")
	name := fs.String("name", "", "full name (required)")
	role := fs.String("role", "", "role: org_admin, technician, headteacher, computing_lead, staff, line_manager or auditor (required)")
	school := fs.String("school", "", "school slug (default: the only school)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *email == "" || *name == "" || *role == "" {
		return fmt.Errorf("give --email, --name and --role")
	}
	s, _, err := e.openStore(ctx, *dataDir, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	u, password, err := admin.AddUser(ctx, s, *email, *name, *role, *school)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Added %s <%s> as %s. Their password, shown only now:\n", u.Name, u.Email, *role)
	fmt.Fprintln(e.stdout, password)
	return audit(ctx, s, uuid.Nil, "user.add", "user/"+u.ID.String(), fmt.Sprintf("added %s as %s", u.Email, *role))
}

// userReset gives someone who forgot their password or lost their phone
// a new password, and has them set up two-step sign-in again.
func (e env) userReset(ctx context.Context, args []string) error {
	fs, dataDir, db := e.flags("user reset")
	email := fs.String("email", "", "the person's email address (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("give --email")
	}
	s, _, err := e.openStore(ctx, *dataDir, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	u, password, err := admin.ResetSignIn(ctx, s, *email)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Reset %s <%s>: their sessions are ended and they set up two-step sign-in again when they next sign in. Their new password, shown only now:\n", u.Name, u.Email)
	fmt.Fprintln(e.stdout, password)
	return audit(ctx, s, uuid.Nil, "user.reset_signin", "user/"+u.ID.String(), "new password; two-step sign-in to be set up again for "+u.Email)
}

func (e env) apiTokenCreate(ctx context.Context, args []string) error {
	fs, dataDir, db := e.flags("api-token create")
	email := fs.String("email", "", "the person the token acts for (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("give --email")
	}
	s, _, err := e.openStore(ctx, *dataDir, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	tok, err := admin.CreateAPIToken(ctx, s, *email)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, tok)
	return audit(ctx, s, uuid.Nil, "api_token.create", "user/"+*email, "API token made")
}

func (e env) enrollTokenCreate(ctx context.Context, args []string) error {
	fs, dataDir, db := e.flags("enroll-token create")
	school := fs.String("school", "", "school slug (default: the only school)")
	uses := fs.Int("uses", 1, "how many devices may enrol with the token")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid, e.g. 24h or 168h")
	advertise := fs.String("advertise", "", "host:port agents dial (default: the one serve remembered)")
	if err := parse(fs, args); err != nil {
		return err
	}
	// The CA is made by serve. Without it this is not a server's data
	// directory, and a token made here would pin a CA no server uses.
	ca, err := pki.LoadCA(*dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s holds no Rollcall CA: give the --data-dir that `rollcall serve` uses, or start serve with it once", *dataDir)
	} else if err != nil {
		return err
	}
	s, cfg, err := e.openStore(ctx, *dataDir, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	now := time.Now()
	if *advertise == "" {
		*advertise = app.AdvertiseAddr(cfg.Advertise, cfg.AgentAddr)
	}
	tok, err := admin.CreateEnrollToken(ctx, s, ca, admin.EnrollTokenRequest{
		School: *school, Uses: *uses, TTL: *ttl, Advertise: *advertise, Now: now,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, tok)
	return audit(ctx, s, uuid.Nil, "enroll_token.create", "school/"+*school, fmt.Sprintf("enrolment token for %d devices, valid %s", *uses, *ttl))
}

func (e env) schoolAdd(ctx context.Context, args []string) error {
	fs, dataDir, db := e.flags("school add")
	slug := fs.String("slug", "", "short name used on the command line, e.g. st-marys (required)")
	name := fs.String("name", "", "the school's name (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, _, err := e.openStore(ctx, *dataDir, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	sc := &inventory.School{Slug: *slug, Name: *name}
	if err := s.CreateSchool(ctx, sc); err != nil {
		return err
	}
	if err := audit(ctx, s, sc.ID, "school.add", "school/"+sc.Slug, "school "+sc.Name+" added"); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s\n", sc.Slug)
	return nil
}

func (e env) migrate(ctx context.Context, args []string) error {
	fs, dataDir, db := e.flags("migrate")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, _, err := e.openStore(ctx, *dataDir, *db)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stderr, "Database is up to date.")
	return s.Close()
}
