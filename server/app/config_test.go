package app

import "testing"

// TestConfigMerge: flags override what is remembered, empty flags keep it,
// and --smtp-host off forgets the relay.
func TestConfigMerge(t *testing.T) {
	saved := Config{HTTPAddr: ":8080", PublicURL: "https://old.example", SMTP: SMTPConfig{Host: "relay.example", Port: 587, From: "a@b.example"}}
	tests := []struct {
		name  string
		flags Config
		want  Config
	}{
		{"no flags", Config{}, saved},
		{"a new public URL", Config{PublicURL: "https://new.example"},
			Config{HTTPAddr: ":8080", PublicURL: "https://new.example", SMTP: saved.SMTP}},
		{"a new relay port", Config{SMTP: SMTPConfig{Port: 25}},
			Config{HTTPAddr: ":8080", PublicURL: "https://old.example", SMTP: SMTPConfig{Host: "relay.example", Port: 25, From: "a@b.example"}}},
		{"email off", Config{SMTP: SMTPConfig{Host: SMTPOff}}, Config{HTTPAddr: ":8080", PublicURL: "https://old.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := saved.Merge(tt.flags); got != tt.want {
				t.Errorf("Merge = %+v, want %+v", got, tt.want)
			}
		})
	}
}
