package app

import (
	"context"
	"time"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/web"
)

// SweepInterval is how often the server tidies up and keeps its figures.
const SweepInterval = 5 * time.Minute

// sweep runs the periodic work until stop is closed: it judges devices
// whose verdict is due (none yet, antivirus definitions gone past the
// limit since the last report, or a policy change), marks devices not seen
// within their school's policy as failing seen_recently, records today's
// compliance figures for the overview's chart, emails reminders of loan
// checks falling due or overdue and each school's weekly PIN log digest,
// records factory resets that leavers' laptops show by enrolling again,
// deletes records at the end of their school's retention periods (once a
// day: see inventory.PurgeExpiredRecords), and deletes expired sessions
// and old failed sign-ins. Every step is idempotent, so several
// replicas may sweep the same database.
func (a *App) sweep(ctx context.Context, stop <-chan struct{}) {
	defer close(a.sweepDone)
	t := time.NewTicker(SweepInterval)
	defer t.Stop()
	for {
		a.SweepOnce(ctx, time.Now())
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// SweepOnce runs one round of the periodic work at now, logging what
// fails.
func (a *App) SweepOnce(ctx context.Context, now time.Time) {
	log := a.logger.With("component", "sweep")
	schools, err := a.Store.FindSchools(ctx)
	if err != nil {
		log.ErrorContext(ctx, "list schools", "err", err)
		return
	}
	for _, sc := range schools {
		if n, err := inventory.Rejudge(ctx, a.Store, sc.ID, now); err != nil {
			log.ErrorContext(ctx, "judge devices", "school", sc.Slug, "err", err)
		} else if n > 0 {
			log.InfoContext(ctx, "judged devices whose verdict was due", "school", sc.Slug, "devices", n)
		}
		if days := sc.Policy.MaxDaysUnseen; days > 0 {
			if _, err := a.Store.MarkUnseen(ctx, sc.ID, now.AddDate(0, 0, -days)); err != nil {
				log.ErrorContext(ctx, "mark unseen devices", "school", sc.Slug, "err", err)
			}
		}
	}
	if a.mail != nil {
		if n, err := web.RemindChecks(ctx, a.Store, a.mail, a.publicURL, now); err != nil {
			log.ErrorContext(ctx, "email check reminders", "err", err)
		} else if n > 0 {
			log.InfoContext(ctx, "emailed check reminders", "loans", n)
		}
		if n, err := web.SendPINDigests(ctx, a.Store, a.mail, a.publicURL, now); err != nil {
			log.ErrorContext(ctx, "email PIN log digests", "err", err)
		} else if n > 0 {
			log.InfoContext(ctx, "emailed PIN log digests", "schools", n)
		}
	}
	if n, err := web.NoteResets(ctx, a.Store, now); err != nil {
		log.ErrorContext(ctx, "note factory resets on leavers' check-ins", "err", err)
	} else if n > 0 {
		log.InfoContext(ctx, "noted factory resets from laptops that enrolled again", "check_ins", n)
	}
	res, err := inventory.PurgeExpiredRecords(ctx, a.Store, schools, now)
	if err != nil {
		log.ErrorContext(ctx, "purge records at the end of their retention", "err", err)
	}
	for id, n := range res.Schools {
		log.InfoContext(ctx, "purged records at the end of their retention", "school", id, "usb_events", n.USBEvents,
			"posture_reports", n.Posture, "old_pin_values", n.PINHistory, "loans", n.Loans, "agreements", n.Agreements)
	}
	if res.Audit > 0 {
		log.InfoContext(ctx, "purged audit entries at the end of their retention", "entries", res.Audit)
	}
	if err := inventory.RecordComplianceDays(ctx, a.Store, now); err != nil {
		log.ErrorContext(ctx, "record compliance figures", "err", err)
	}
	if _, err := a.Store.DeleteExpiredSessions(ctx, now); err != nil {
		log.ErrorContext(ctx, "delete expired sessions", "err", err)
	}
	if err := a.Store.DeleteLoginFailuresBefore(ctx, now.Add(-24*time.Hour)); err != nil {
		log.ErrorContext(ctx, "delete old failed sign-ins", "err", err)
	}
}
