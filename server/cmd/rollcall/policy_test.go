package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rollcall/rollcall/inventory"
)

func TestPolicyCommands(t *testing.T) {
	env := map[string]string{}
	dataDir := t.TempDir()
	show := func() inventory.Policy {
		t.Helper()
		out, err := cli(t, env, "policy", "show", "--data-dir", dataDir)
		if err != nil {
			t.Fatal(err)
		}
		var p inventory.Policy
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("policy show printed %q: %v", out, err)
		}
		return p
	}
	if got := show(); got != inventory.DefaultPolicy() {
		t.Errorf("new school's policy = %+v, want the default", got)
	}
	if _, err := cli(t, env, "policy", "set", "--data-dir", dataDir, "--max-idle-lock-minutes", "5", "--require-antivirus=false"); err != nil {
		t.Fatal(err)
	}
	want := inventory.DefaultPolicy()
	want.MaxIdleLockMinutes, want.RequireAntivirus = 5, false
	if got := show(); got != want {
		t.Errorf("after set: %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-idle-lock-minutes", "0"}, "max_idle_lock_minutes"},
		{[]string{}, "give at least one setting"},
		{[]string{"--school", "nowhere", "--max-days-unseen", "3"}, `no school "nowhere"`},
	} {
		_, err := cli(t, env, append([]string{"policy", "set", "--data-dir", dataDir}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("policy set %v: %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
	if got := show(); got != want {
		t.Errorf("a refused change altered the policy: %+v", got)
	}
}
