package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// auditVerify checks the audit log's hash chain and fails naming the
// first entry that was changed, removed or reordered.
func (e env) auditVerify(ctx context.Context, args []string) error {
	fs, dataDir, db := e.flags("audit verify")
	known := fs.String("known", "", "hash of an entry from an earlier verify (its \"Newest entry\" line): fail unless the log still holds it, so newest entries cut off are caught")
	if err := parse(fs, args); err != nil {
		return err
	}
	var knownHash []byte
	if *known != "" {
		h, err := hex.DecodeString(*known)
		if err != nil || len(h) != sha256.Size {
			return fmt.Errorf("--known: %q is not a hash from an earlier verify (64 hexadecimal digits)", *known)
		}
		knownHash = h
	}
	s, _, err := e.openStore(ctx, *dataDir, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	n, err := inventory.VerifyAudit(ctx, s)
	var brk *inventory.AuditBreak
	if errors.As(err, &brk) {
		fmt.Fprintf(e.stdout, "Audit log is NOT intact: %d entries check out, then entry %d %s.\n", n, brk.Seq, brk.Reason)
		return fmt.Errorf("audit log tampered with at entry %d", brk.Seq)
	} else if err != nil {
		return err
	}
	if knownHash != nil {
		found := false
		err := s.WalkAudit(ctx, func(a *inventory.AuditEntry) error {
			found = found || bytes.Equal(a.Hash, knownHash)
			return nil
		})
		if err != nil {
			return err
		}
		if !found {
			anchor, err := s.FindAuditAnchor(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Audit log is NOT intact: its %d entries chain up, but the entry with hash %s is gone: entry %d onwards was cut off the end.\n", n, *known, anchor.Seq+n+1)
			if anchor.Seq > 0 {
				fmt.Fprintf(e.stdout, "(Unless that entry was among entries 1 to %d, deleted at the end of their retention on %s: give the hash from a newer verify.)\n", anchor.Seq, anchor.PurgedAt.UTC().Format(time.DateOnly))
			}
			return fmt.Errorf("audit log tampered with: a known entry is missing")
		}
	}
	entries := "entries"
	if n == 1 {
		entries = "entry"
	}
	fmt.Fprintf(e.stdout, "Audit log is intact: %d %s, each chained to the one before.\n", n, entries)
	anchor, err := s.FindAuditAnchor(ctx)
	if err != nil {
		return err
	}
	if anchor.Seq > 0 {
		fmt.Fprintf(e.stdout, "Entries 1 to %d were deleted at the end of their retention on %s, as the log records; it is checked from entry %d.\n",
			anchor.Seq, anchor.PurgedAt.UTC().Format(time.DateOnly), anchor.Seq+1)
	}
	if n > 0 {
		last, err := s.FindAudit(ctx, inventory.AuditFilter{Limit: 1})
		if err != nil {
			return err
		}
		// Kept elsewhere and given back with --known, this catches
		// entries cut off the end, which leave a valid shorter chain.
		fmt.Fprintf(e.stdout, "Newest entry: %d at %s, hash %x\n", last[0].Seq, last[0].At.UTC().Format(time.RFC3339), last[0].Hash)
	}
	return nil
}

// audit records an operator's command in the audit log. The actor is
// the operating-system account that ran it.
func audit(ctx context.Context, s inventory.AuditStore, schoolID uuid.UUID, action, record, detail string) error {
	who := "operator"
	if u, err := user.Current(); err == nil {
		who = "operator " + u.Username
	}
	host, _ := os.Hostname()
	e := &inventory.AuditEntry{
		At: time.Now(), Actor: who + " (command line)", SchoolID: schoolID,
		Action: action, Record: record, Addr: host, Detail: detail,
	}
	e.Fit()
	err := s.AppendAudit(ctx, e)
	if err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	return nil
}
