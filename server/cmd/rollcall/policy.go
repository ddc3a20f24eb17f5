package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/admin"
)

// openSchool opens the store and finds the school named by slug (the only
// school when empty). The caller closes the store.
func (e env) openSchool(ctx context.Context, dataDir, db, slug string) (inventory.Store, *inventory.School, error) {
	s, _, err := e.openStore(ctx, dataDir, db)
	if err != nil {
		return nil, nil, err
	}
	sc, err := admin.ResolveSchool(ctx, s, slug)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, sc, nil
}

func (e env) policyShow(ctx context.Context, args []string) error {
	fs, dataDir, db := e.flags("policy show")
	school := fs.String("school", "", "school slug (default: the only school)")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, sc, err := e.openSchool(ctx, *dataDir, *db, *school)
	if err != nil {
		return err
	}
	defer s.Close()
	return printPolicy(e, sc.Policy)
}

// policySet changes the settings given as flags and keeps the others.
func (e env) policySet(ctx context.Context, args []string) error {
	fs, dataDir, db := e.flags("policy set")
	school := fs.String("school", "", "school slug (default: the only school)")
	d := inventory.DefaultPolicy()
	var p inventory.Policy
	fs.BoolVar(&p.RequireEncryption, "require-encryption", d.RequireEncryption, "the OS volume must be encrypted with protection on")
	fs.BoolVar(&p.RequireAntivirus, "require-antivirus", d.RequireAntivirus, "an antivirus must be enabled with fresh definitions")
	fs.IntVar(&p.MaxSignatureAgeDays, "max-signature-age-days", d.MaxSignatureAgeDays, "oldest antivirus definitions allowed, in days (1-90)")
	fs.BoolVar(&p.RequireScreenLock, "require-screen-lock", d.RequireScreenLock, "the screen must lock when left idle")
	fs.IntVar(&p.MaxIdleLockMinutes, "max-idle-lock-minutes", d.MaxIdleLockMinutes, "longest idle time before the screen locks, in minutes (1-240)")
	fs.BoolVar(&p.RequirePasswordOnWake, "require-password-on-wake", d.RequirePasswordOnWake, "a password must be asked for on wake")
	fs.IntVar(&p.MaxDaysUnseen, "max-days-unseen", d.MaxDaysUnseen, "days a device may go without checking in (0 turns the rule off)")
	fs.BoolVar(&p.FlagMassStorage, "flag-mass-storage", d.FlagMassStorage, "flag every mass-storage insertion for review")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, sc, err := e.openSchool(ctx, *dataDir, *db, *school)
	if err != nil {
		return err
	}
	defer s.Close()
	// Start from the stored policy and lay over only the flags given.
	next := sc.Policy
	changed := 0
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "require-encryption":
			next.RequireEncryption = p.RequireEncryption
		case "require-antivirus":
			next.RequireAntivirus = p.RequireAntivirus
		case "max-signature-age-days":
			next.MaxSignatureAgeDays = p.MaxSignatureAgeDays
		case "require-screen-lock":
			next.RequireScreenLock = p.RequireScreenLock
		case "max-idle-lock-minutes":
			next.MaxIdleLockMinutes = p.MaxIdleLockMinutes
		case "require-password-on-wake":
			next.RequirePasswordOnWake = p.RequirePasswordOnWake
		case "max-days-unseen":
			next.MaxDaysUnseen = p.MaxDaysUnseen
		case "flag-mass-storage":
			next.FlagMassStorage = p.FlagMassStorage
		default:
			return
		}
		changed++
	})
	if changed == 0 {
		return fmt.Errorf("give at least one setting to change; see rollcall policy set -h")
	}
	if err := s.SetSchoolPolicy(ctx, sc.ID, next); err != nil {
		return err
	}
	after, _ := json.Marshal(next)
	if err := audit(ctx, s, sc.ID, "policy.change", "school/"+sc.Slug, "to "+string(after)); err != nil {
		return err
	}
	n, err := inventory.Rejudge(ctx, s, sc.ID, time.Now())
	if err != nil {
		return fmt.Errorf("policy changed, but judging the devices again failed; the server's sweep judges them within 5 minutes: %w", err)
	}
	fmt.Fprintf(e.stderr, "Policy of %s changed; its %d devices were judged again and are judged by it from now on.\n", sc.Slug, n)
	return printPolicy(e, next)
}

func printPolicy(e env, p inventory.Policy) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, string(b))
	return nil
}
