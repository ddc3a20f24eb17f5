package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ConfigFile is the file in the data directory where serve remembers its
// database and addresses, so that later commands with the same data
// directory reach the same database.
const ConfigFile = "rollcall.json"

// Config is what the data directory remembers.
type Config struct {
	DB        string `json:"db,omitempty"`         // database URL; empty means SQLite in the data dir
	AgentAddr string `json:"agent_addr,omitempty"` // agent listener address
	HTTPAddr  string `json:"http_addr,omitempty"`  // web listener address
	Advertise string `json:"advertise,omitempty"`  // host:port agents dial, written into enrolment tokens
	// TrustProxy: the web side is behind a reverse proxy, so the client's
	// address is the last hop of X-Forwarded-For.
	TrustProxy bool `json:"trust_proxy,omitempty"`
	// PublicURL is the dashboard's address as people reach it
	// ("https://rollcall.school.example"), for the links in emails the
	// sweep sends. Empty: http:// and the web listener's address.
	PublicURL string `json:"public_url,omitempty"`
	// SMTP is the school's mail relay; an empty host means no email. Its
	// password is never stored here: serve reads $ROLLCALL_SMTP_PASSWORD.
	SMTP SMTPConfig `json:"smtp,omitzero"`
}

// SMTPOff, given as the SMTP host, forgets the remembered relay: no email.
const SMTPOff = "off"

// SMTPConfig is the mail relay as the data directory remembers it.
type SMTPConfig struct {
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	Username string `json:"username,omitempty"`
	From     string `json:"from,omitempty"`
	Security string `json:"security,omitempty"` // starttls (default), tls or none
}

// Default addresses.
const (
	DefaultAgentAddr = ":8443"
	DefaultHTTPAddr  = ":8080"
)

// LoadConfig reads the data directory's configuration. A missing file is
// an empty configuration.
func LoadConfig(dataDir string) (Config, error) {
	var c Config
	b, err := os.ReadFile(filepath.Join(dataDir, ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	} else if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("config %s is not valid JSON: %w", filepath.Join(dataDir, ConfigFile), err)
	}
	return c, nil
}

// SaveConfig writes c into the data directory with owner-only permissions
// (the database URL may hold a password).
func SaveConfig(dataDir string, c Config) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dataDir, ConfigFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dataDir, ConfigFile))
}

// Merge returns c with every non-empty field of flags laid over it.
func (c Config) Merge(flags Config) Config {
	if flags.DB != "" {
		c.DB = flags.DB
	}
	if flags.AgentAddr != "" {
		c.AgentAddr = flags.AgentAddr
	}
	if flags.HTTPAddr != "" {
		c.HTTPAddr = flags.HTTPAddr
	}
	if flags.Advertise != "" {
		c.Advertise = flags.Advertise
	}
	if flags.TrustProxy {
		c.TrustProxy = true
	}
	if flags.PublicURL != "" {
		c.PublicURL = flags.PublicURL
	}
	if flags.SMTP.Host == SMTPOff {
		c.SMTP = SMTPConfig{}
	} else if flags.SMTP.Host != "" {
		c.SMTP.Host = flags.SMTP.Host
	}
	if flags.SMTP.Port != 0 {
		c.SMTP.Port = flags.SMTP.Port
	}
	if flags.SMTP.Username != "" {
		c.SMTP.Username = flags.SMTP.Username
	}
	if flags.SMTP.From != "" {
		c.SMTP.From = flags.SMTP.From
	}
	if flags.SMTP.Security != "" {
		c.SMTP.Security = flags.SMTP.Security
	}
	return c
}
