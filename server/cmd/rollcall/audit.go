package main

import (
	"context"
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
	if err := parse(fs, args); err != nil {
		return err
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
	fmt.Fprintf(e.stdout, "Audit log is intact: %d entries, each chained to the one before.\n", n)
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
	err := s.AppendAudit(ctx, &inventory.AuditEntry{
		At: time.Now(), Actor: who + " (command line)", SchoolID: schoolID,
		Action: action, Record: record, Addr: host, Detail: detail,
	})
	if err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	return nil
}
