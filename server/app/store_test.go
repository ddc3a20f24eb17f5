package app

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		dsn, want string
	}{
		{"postgres://rollcall:s3cret@db:5432/rollcall", "postgres://rollcall:xxxxx@db:5432/rollcall"},
		{"postgres://rollcall@db/rollcall?sslmode=require", "postgres://rollcall@db/rollcall?sslmode=require"},
		{"postgres://db/rollcall?user=r&password=s3cret", "postgres://db/rollcall?password=xxxxx&user=r"},
		{"postgres://rollcall:p%40ss@db/rollcall", "postgres://rollcall:xxxxx@db/rollcall"},
		{"host=db dbname=rollcall password=s3cret", "host=db dbname=rollcall password=xxxxx"},
		{"host=db password='s3cret with spaces' dbname=rollcall", "host=db password=xxxxx dbname=rollcall"},
		{"host=db password = s3cret dbname=rollcall", "host=db password=xxxxx dbname=rollcall"},
		{"sqlite:/var/lib/rollcall/rollcall.db", "sqlite:/var/lib/rollcall/rollcall.db"},
		{"postgres://u:s3cret@db:bad port/x", "postgres:(unparsable; not shown)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := redact(tt.dsn)
			if got != tt.want {
				t.Errorf("redact(%q) = %q, want %q", tt.dsn, got, tt.want)
			}
			if strings.Contains(got, "s3cret") {
				t.Errorf("redact(%q) = %q still holds the password", tt.dsn, got)
			}
		})
	}
}
