package web

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// deviceJSON is a device as the REST API shows it.
type deviceJSON struct {
	ID        string `json:"id"`
	SchoolID  string `json:"school_id"`
	Hostname  string `json:"hostname"`
	Make      string `json:"make"`
	Model     string `json:"model"`
	Serial    string `json:"serial"`
	OSName    string `json:"os_name"`
	OSVersion string `json:"os_version"`
	// OSEndOfSupport is when the vendor stops security updates for the
	// OS, where known.
	OSEndOfSupport *time.Time         `json:"os_end_of_support"`
	LastSeenAt     *time.Time         `json:"last_seen_at"`
	CreatedAt      time.Time          `json:"created_at"`
	UpdatedAt      time.Time          `json:"updated_at"`
	Hardware       inventory.Hardware `json:"hardware"`
}

func toDeviceJSON(d *inventory.Device) deviceJSON {
	out := deviceJSON{
		ID:        d.ID.String(),
		SchoolID:  d.SchoolID.String(),
		Hostname:  d.Hostname,
		Make:      d.Make,
		Model:     d.Model,
		Serial:    d.Serial,
		OSName:    d.OSName,
		OSVersion: d.OSVersion,
		CreatedAt: d.CreatedAt,
		UpdatedAt: d.UpdatedAt,
		Hardware:  d.Hardware,
	}
	if !d.LastSeenAt.IsZero() {
		t := d.LastSeenAt
		out.LastSeenAt = &t
	}
	if t, ok := inventory.OSEndOfSupport(d.OSName, d.OSVersion); ok {
		out.OSEndOfSupport = &t
	}
	return out
}

// listJSON is the shape of every list the API returns.
type listJSON[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// deviceFilter reads ?after= and ?limit= into a filter for the viewer.
func deviceFilter(r *http.Request) (inventory.DeviceFilter, error) {
	f := inventory.DeviceFilter{SchoolIDs: viewerOf(r.Context()).schoolsWith(fleetReaders...)}
	q := r.URL.Query()
	if s := q.Get("after"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			return f, inventory.Errorf(inventory.EINVALID, "after: %q is not a cursor from a previous page's \"next\"", s)
		}
		f.After = id
	}
	var err error
	f.Limit, err = parseLimit(q)
	return f, err
}

func handleDeviceList(logger *slog.Logger, store inventory.DeviceStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := deviceFilter(r)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		devices, err := store.FindDevices(r.Context(), f)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		out := listJSON[deviceJSON]{Items: make([]deviceJSON, 0, len(devices))}
		for _, d := range devices {
			out.Items = append(out.Items, toDeviceJSON(d))
		}
		if len(devices) == f.PageLimit() {
			out.Next = devices[len(devices)-1].ID.String()
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// deviceDetailJSON is one device with its posture and compliance.
type deviceDetailJSON struct {
	deviceJSON
	Posture    *inventory.Posture   `json:"posture"`
	Compliance inventory.Compliance `json:"compliance"`
}

func handleDeviceGet(logger *slog.Logger, store inventory.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := visibleDevice(w, r, logger, store)
		if !ok {
			return
		}
		p, err := latestPosture(r.Context(), store, d.ID)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		policy, err := newPolicies(store).of(r.Context(), d.SchoolID)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeJSON(w, http.StatusOK, deviceDetailJSON{deviceJSON: toDeviceJSON(d), Posture: p, Compliance: judge(policy, d, p)})
	})
}

// visibleDevice finds the device named in the path, answering 404 when it
// does not exist or is in a school the viewer cannot see.
func visibleDevice(w http.ResponseWriter, r *http.Request, logger *slog.Logger, store inventory.DeviceStore) (*inventory.Device, bool) {
	notFound := inventory.Errorf(inventory.ENOTFOUND, "device %s not found", r.PathValue("id"))
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, r, logger, notFound)
		return nil, false
	}
	d, err := store.FindDeviceByID(r.Context(), id)
	if err != nil {
		writeError(w, r, logger, err)
		return nil, false
	}
	// A device in a school the viewer cannot see does not exist for them.
	if !viewerOf(r.Context()).canSeeFleet(d.SchoolID) {
		writeError(w, r, logger, notFound)
		return nil, false
	}
	return d, true
}
