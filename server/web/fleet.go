package web

import (
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// devicesPageSize is how many devices a page of the list shows.
const devicesPageSize = 50

// countCap is how far the list counts the devices that match: beyond
// it, the page says "more than", so a page of a large fleet stays fast.
const countCap = 1000

// encodeCursor writes the keyset cursor of the last device of a page.
func encodeCursor(d *inventory.Device, sort inventory.DeviceSort) string {
	return d.ID.String() + "." + base64.RawURLEncoding.EncodeToString([]byte(d.SortKey(sort)))
}

// decodeCursor reads a cursor made by encodeCursor.
func decodeCursor(s string) (uuid.UUID, string, error) {
	idText, keyText, _ := strings.Cut(s, ".")
	id, err := uuid.Parse(idText)
	key, kerr := base64.RawURLEncoding.DecodeString(keyText)
	if err != nil || kerr != nil {
		return uuid.Nil, "", inventory.Errorf(inventory.EINVALID, "after: %q is not a cursor from a previous page", s)
	}
	return id, string(key), nil
}

// listQuery is the device list's filters as the page's form has them.
type listQuery struct {
	School, Status, Rule, Seen, Q, Sort string
}

// seenChoices are the "last seen" filter's values.
var seenChoices = map[string]string{
	"":       "Any time",
	"recent": fmt.Sprintf("In the last %d days", unseenDays),
	"unseen": fmt.Sprintf("Not in %d days, or never", unseenDays),
}

// deviceListFilter reads the device list's filters from the query, for
// the schools whose fleet the viewer may see.
func (s *server) deviceListFilter(r *http.Request) (inventory.DeviceFilter, listQuery, error) {
	v := viewerOf(r.Context())
	q := r.URL.Query()
	lq := listQuery{School: q.Get("school"), Status: q.Get("status"), Rule: q.Get("rule"), Seen: q.Get("seen"), Q: strings.TrimSpace(q.Get("q")), Sort: q.Get("sort")}
	f := inventory.DeviceFilter{SchoolIDs: v.schoolsWith(fleetReaders...), Search: lq.Q, Limit: devicesPageSize}
	if lq.School != "" {
		sc, err := s.store.FindSchoolBySlug(r.Context(), lq.School)
		if err != nil || !v.canSeeFleet(sc.ID) {
			return f, lq, inventory.Errorf(inventory.EINVALID, "school: no school %q that you may see", lq.School)
		}
		f.SchoolIDs = []uuid.UUID{sc.ID}
	}
	switch lq.Status {
	case "", inventory.StatusCompliant, inventory.StatusNoncompliant, inventory.StatusUnknown:
		f.Status = lq.Status
	default:
		return f, lq, inventory.Errorf(inventory.EINVALID, "status: %q is not compliant, noncompliant or unknown", lq.Status)
	}
	if lq.Rule != "" && !slices.Contains(inventory.Rules, lq.Rule) {
		return f, lq, inventory.Errorf(inventory.EINVALID, "rule: %q is not one of %s", lq.Rule, strings.Join(inventory.Rules, ", "))
	}
	f.FailingRule = lq.Rule
	cutoff := s.now().AddDate(0, 0, -unseenDays)
	switch lq.Seen {
	case "":
	case "recent":
		f.SeenSince = cutoff
	case "unseen":
		f.SeenBefore = cutoff
	default:
		return f, lq, inventory.Errorf(inventory.EINVALID, "seen: %q is not recent or unseen", lq.Seen)
	}
	if !slices.Contains(inventory.DeviceSorts, inventory.DeviceSort(lq.Sort)) {
		return f, lq, inventory.Errorf(inventory.EINVALID, "sort: %q is not hostname, serial, last_seen or status", lq.Sort)
	}
	f.Sort = inventory.DeviceSort(lq.Sort)
	if after := q.Get("after"); after != "" {
		id, key, err := decodeCursor(after)
		if err != nil {
			return f, lq, err
		}
		f.After, f.AfterKey = id, key
	}
	return f, lq, nil
}

// devicesPage is the data of the device list.
type devicesPage struct {
	Query    listQuery
	Devices  []*inventory.Device
	Schools  []*inventory.School
	SchoolOf map[uuid.UUID]string
	Rules    []string
	Seen     map[string]string
	Next     string // query of the next page
	First    string // query of the first page
	CSV      string // query of the CSV export
	Total    int
	More     bool // more than Total match
	Paged    bool // this is not the first page
	Error    string
	Sorts    []sortLink
}

// sortLink is one column's sort link.
type sortLink struct {
	Key, Query string
	Current    bool
}

func (s *server) handleDevicesPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		page := devicesPage{Rules: inventory.Rules, Seen: seenChoices, SchoolOf: map[uuid.UUID]string{}}
		var err error
		if page.Schools, err = s.schoolsFor(r, fleetReaders); err != nil {
			s.pageError(w, r, err)
			return
		}
		for _, sc := range page.Schools {
			page.SchoolOf[sc.ID] = sc.Name
		}
		f, lq, err := s.deviceListFilter(r)
		page.Query = lq
		if err != nil {
			page.Error = inventory.ErrorMessage(err)
			s.render(w, r, http.StatusBadRequest, "devices.html", "Devices", page)
			return
		}
		if page.Devices, err = s.store.FindDevices(ctx, f); err != nil {
			s.pageError(w, r, err)
			return
		}
		switch {
		case f.After == uuid.Nil && len(page.Devices) < f.PageLimit():
			page.Total = len(page.Devices) // the whole answer is on this page
		default:
			if page.Total, err = s.store.CountDevicesUpTo(ctx, f, countCap); err != nil {
				s.pageError(w, r, err)
				return
			}
			page.More = page.Total > countCap
			page.Total = min(page.Total, countCap)
		}
		base := url.Values{}
		for k, val := range map[string]string{"school": lq.School, "status": lq.Status, "rule": lq.Rule, "seen": lq.Seen, "q": lq.Q, "sort": lq.Sort} {
			if val != "" {
				base.Set(k, val)
			}
		}
		page.First, page.CSV, page.Paged = base.Encode(), base.Encode(), f.After != uuid.Nil
		if len(page.Devices) == f.PageLimit() {
			next := cloneValues(base)
			next.Set("after", encodeCursor(page.Devices[len(page.Devices)-1], f.Sort))
			page.Next = next.Encode()
		}
		for _, key := range inventory.DeviceSorts[1:] {
			q := cloneValues(base)
			q.Set("sort", string(key))
			page.Sorts = append(page.Sorts, sortLink{Key: string(key), Query: q.Encode(), Current: f.Sort == key})
		}
		s.render(w, r, http.StatusOK, "devices.html", "Devices", page)
	})
}

// cloneValues copies v without the keys drop.
func cloneValues(v url.Values, drop ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	for _, k := range drop {
		out.Del(k)
	}
	return out
}

// handleDevicesCSV exports every device the list's filters select.
func (s *server) handleDevicesCSV() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		f, lq, err := s.deviceListFilter(r)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		schools, err := s.schoolsFor(r, fleetReaders)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		slugOf := map[uuid.UUID]string{}
		for _, sc := range schools {
			slugOf[sc.ID] = sc.Slug
		}
		f.Limit = inventory.MaxPageSize
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="rollcall-devices-`+s.now().UTC().Format("2006-01-02")+`.csv"`)
		cw := csv.NewWriter(w)
		cw.Write([]string{"School", "Hostname", "Make", "Model", "Serial", "OS", "OS version", "Logged-in user", "Status", "Failing rules", "Last seen (UTC)", "Device ID"})
		n := 0
		for {
			devices, err := s.store.FindDevices(ctx, f)
			if err != nil {
				// The header is sent: say so in the file rather than end it silently.
				s.logger.ErrorContext(ctx, "export devices", "err", err)
				cw.Write([]string{"EXPORT FAILED: the file is incomplete; try again"})
				break
			}
			for _, d := range devices {
				seen := ""
				if !d.LastSeenAt.IsZero() {
					seen = d.LastSeenAt.UTC().Format(time.DateTime)
				}
				cw.Write([]string{slugOf[d.SchoolID], csvCell(d.Hostname), csvCell(d.Make), csvCell(d.Model), csvCell(d.Serial), csvCell(d.OSName), csvCell(d.OSVersion),
					csvCell(d.Hardware.LoggedInUser), d.Verdict.Status, strings.Join(d.Verdict.Failing, " "), seen, d.ID.String()})
				n++
			}
			if len(devices) < f.PageLimit() {
				break
			}
			last := devices[len(devices)-1]
			f.After, f.AfterKey = last.ID, last.SortKey(f.Sort)
		}
		cw.Flush()
		s.audit(r, inventory.AuditEntry{Action: "device.export", Record: "devices", Detail: fmt.Sprintf("%d devices exported as CSV; filters: %+v", n, lq)})
	})
}

// devicePage is the data of one device's page.
type devicePage struct {
	Device      *inventory.Device
	School      *inventory.School
	Compliance  inventory.Compliance
	Posture     *inventory.Posture
	Changed     map[string]time.Time // concern -> when it last changed
	USB         []usbRow
	Enrollments []*inventory.Enrollment
	CanRevoke   bool
	EOS         time.Time
	// Asset is the device's register entry, and Loans its loans.
	Asset *inventory.Asset
	Loans []loanRow
}

// usbRow is one USB event on the device page.
type usbRow struct {
	At          time.Time
	Type        string
	Device      inventory.USBDevice
	MassStorage bool
}

func (s *server) handleDevicePage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		d, err := s.fleetDevice(r)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		page := devicePage{Device: d, Changed: map[string]time.Time{}}
		if page.School, err = s.store.FindSchoolByID(ctx, d.SchoolID); err != nil {
			s.pageError(w, r, err)
			return
		}
		snaps, err := s.store.FindPostureSnapshots(ctx, d.ID, historySnapshots)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		if len(snaps) > 0 {
			page.Posture = &snaps[0].Posture
		}
		for _, c := range inventory.PostureChanges(snaps) {
			if _, ok := page.Changed[c.Concern]; !ok {
				page.Changed[c.Concern] = c.ChangedAt // newest first
			}
		}
		page.Compliance = inventory.Judge(page.School.Policy, page.Posture, d.LastSeenAt, s.now())
		events, err := s.store.FindEvents(ctx, inventory.EventFilter{DeviceID: d.ID, TypePrefix: "usb.", Limit: 50})
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		for _, e := range events {
			row := usbRow{At: e.OccurredAt, Type: e.Type}
			var body inventory.USBEvent
			if err := json.Unmarshal(e.Payload, &body); err == nil {
				row.Device, row.MassStorage = body.Device, body.Device.MassStorage
			}
			page.USB = append(page.USB, row)
		}
		if page.Enrollments, err = s.store.FindEnrollmentsByDevice(ctx, d.ID); err != nil {
			s.pageError(w, r, err)
			return
		}
		page.CanRevoke = viewerOf(ctx).holds(d.SchoolID, deviceManagers...)
		page.EOS, _ = inventory.OSEndOfSupport(d.OSName, d.OSVersion)
		if err := s.deviceLoans(r, &page); err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "device.html", deviceTitle(d), page)
	})
}

// deviceLoans fills in the device's register entry and its loans.
func (s *server) deviceLoans(r *http.Request, page *devicePage) error {
	ctx := r.Context()
	a, err := s.store.FindAssetByDevice(ctx, page.Device.ID)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	page.Asset = a
	loans, err := s.store.FindLoans(ctx, inventory.LoanFilter{AssetID: a.ID, Limit: 20})
	if err != nil {
		return err
	}
	page.Loans, err = s.loanRows(ctx, s.names(ctx), loans)
	return err
}

func deviceTitle(d *inventory.Device) string {
	if d.Hostname != "" {
		return d.Hostname
	}
	return "Device " + d.ID.String()[:8]
}

// fleetDevice finds the device in the path among those the viewer may
// see; any other device does not exist for them.
func (s *server) fleetDevice(r *http.Request) (*inventory.Device, error) {
	notFound := inventory.Errorf(inventory.ENOTFOUND, "There is no device %s that you may see.", r.PathValue("id"))
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return nil, notFound
	}
	d, err := s.store.FindDeviceByID(r.Context(), id)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND || err == nil && !viewerOf(r.Context()).canSeeFleet(d.SchoolID) {
		return nil, notFound
	}
	return d, err
}

// handleRevokeEnrollment revokes one of a device's certificates: its
// agent is refused from its next call.
func (s *server) handleRevokeEnrollment() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		d, err := s.fleetDevice(r)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		if !viewerOf(ctx).holds(d.SchoolID, deviceManagers...) {
			s.pageError(w, r, inventory.Errorf(inventory.EFORBIDDEN, "Revoking a certificate needs the technician role in this device's school."))
			return
		}
		eid, err := uuid.Parse(r.PathValue("eid"))
		if err != nil {
			s.pageError(w, r, inventory.Errorf(inventory.ENOTFOUND, "There is no certificate %s on this device.", r.PathValue("eid")))
			return
		}
		e, err := s.store.FindEnrollmentByID(ctx, eid)
		if err == nil && e.DeviceID != d.ID {
			err = inventory.Errorf(inventory.ENOTFOUND, "There is no certificate %s on this device.", eid)
		}
		if err == nil && !e.RevokedAt.IsZero() {
			err = inventory.Errorf(inventory.ECONFLICT, "That certificate was already revoked on %s.", when(e.RevokedAt))
		}
		if err == nil {
			err = s.store.RevokeEnrollment(ctx, eid, s.now())
		}
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.audit(r, inventory.AuditEntry{SchoolID: d.SchoolID, Action: "enrollment.revoke", Record: "device/" + d.ID.String(), Detail: "certificate " + e.CertSerial + " revoked; the agent is refused from its next call"})
		http.Redirect(w, r, "/devices/"+d.ID.String()+"?done=revoked", http.StatusSeeOther)
	})
}
