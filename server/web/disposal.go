package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/rollcall/rollcall/inventory"
)

// disposalInput is a disposal as a form or the API gives it.
type disposalInput struct {
	Method, Date, Recipient, Notes string
	Certificate                    []byte
	CertificateName                string
	CertificateType                string
}

// disposalFromRequest reads a disposal from a form, multipart when it
// carries a certificate, or else from a JSON body.
func disposalFromRequest(r *http.Request) (disposalInput, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" && ct != "application/x-www-form-urlencoded" {
		var b struct {
			Method    string `json:"method"`
			Date      string `json:"date"`
			Recipient string `json:"recipient"`
			Notes     string `json:"notes"`
		}
		err := decodeBody(r, &b, "disposal", false)
		return disposalInput{Method: b.Method, Date: b.Date, Recipient: b.Recipient, Notes: b.Notes}, err
	}
	if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return disposalInput{}, inventory.Errorf(inventory.EINVALID, "The certificate is larger than %d MB.", inventory.MaxCertificateBytes>>20)
		}
		return disposalInput{}, inventory.Errorf(inventory.EINVALID, "The form could not be read: %v", err)
	}
	in := disposalInput{Method: r.FormValue("method"), Date: r.FormValue("date"), Recipient: r.FormValue("recipient"), Notes: r.FormValue("notes")}
	f, h, err := r.FormFile("certificate")
	if err == nil {
		defer f.Close()
		if in.Certificate, err = io.ReadAll(io.LimitReader(f, inventory.MaxCertificateBytes+1)); err != nil {
			return in, err
		}
		in.CertificateName = filepath.Base(h.Filename)
		in.CertificateType = h.Header.Get("Content-Type")
		if len(in.Certificate) == 0 {
			in.Certificate, in.CertificateName, in.CertificateType = nil, "", ""
		}
	}
	return in, nil
}

// disposeAsset records kit leaving the school for the viewer, who must be
// its school's technician.
func (s *server) disposeAsset(r *http.Request, idText string, in disposalInput) (*inventory.Asset, *inventory.Disposal, error) {
	ctx := r.Context()
	a, err := s.visibleAsset(ctx, idText)
	if err != nil {
		return nil, nil, err
	}
	v := viewerOf(ctx)
	if !v.holds(a.SchoolID, kitManagers...) {
		return a, nil, inventory.Errorf(inventory.EFORBIDDEN, "Only the technician records a disposal.")
	}
	date, err := parseDate(in.Date)
	if err != nil {
		return a, nil, inventory.Errorf(inventory.EINVALID, "Date: %s", inventory.ErrorMessage(err))
	}
	d := &inventory.Disposal{AssetID: a.ID, SchoolID: a.SchoolID, Method: inventory.DisposalMethod(in.Method), Date: date,
		Recipient: strings.TrimSpace(in.Recipient), Notes: strings.TrimSpace(in.Notes), RecordedBy: v.user.ID,
		Certificate: in.Certificate, CertificateName: in.CertificateName, CertificateType: in.CertificateType}
	if len(d.Certificate) > 0 {
		sum := sha256.Sum256(d.Certificate)
		d.CertificateSHA = hex.EncodeToString(sum[:])
		if d.CertificateType == "" || d.CertificateType == "application/octet-stream" {
			d.CertificateType = http.DetectContentType(d.Certificate)
		}
	}
	if err := d.Validate(s.now()); err != nil {
		return a, nil, err
	}
	if err := s.store.DisposeAsset(ctx, d); err != nil {
		return a, nil, err
	}
	detail := "disposed of " + a.Label() + " by " + disposalMethodText(d.Method) + " to " + d.Recipient
	if d.CertificateSHA != "" {
		detail += "; certificate sha256 " + d.CertificateSHA
	}
	s.audit(r, inventory.AuditEntry{SchoolID: a.SchoolID, Action: "register.dispose", Record: "asset/" + a.ID.String(), Detail: detail})
	return a, d, nil
}

// disposalMethodText names a method for people.
func disposalMethodText(m inventory.DisposalMethod) string {
	switch m {
	case inventory.DisposalWEEE:
		return "a WEEE recycler"
	case inventory.DisposalDestruction:
		return "a data destruction service"
	case inventory.DisposalResale:
		return "resale"
	case inventory.DisposalReturnToLessor:
		return "return to the lessor"
	}
	return string(m)
}

func (s *server) handleDispose() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := disposalFromRequest(r)
		var a *inventory.Asset
		if err == nil {
			a, _, err = s.disposeAsset(r, r.PathValue("id"), in)
		}
		if err != nil {
			if a == nil {
				if a, _ = s.visibleAsset(r.Context(), r.PathValue("id")); a == nil {
					s.pageError(w, r, err)
					return
				}
			}
			s.formFailed(w, r, err, func() (any, string, string, error) {
				page, perr := s.assetPage(r, a, nil, inventory.ErrorMessage(err))
				if perr == nil {
					page.DisposeForm = r.Form
				}
				return page, "asset.html", a.Label(), perr
			})
			return
		}
		http.Redirect(w, r, "/register/"+a.ID.String()+"?done=disposed", http.StatusSeeOther)
	})
}

// handleCertificate sends a disposal's certificate as it was uploaded.
func (s *server) handleCertificate(fail func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.visibleAsset(r.Context(), r.PathValue("id"))
		var d *inventory.Disposal
		if err == nil {
			d, err = s.store.FindDisposal(r.Context(), a.ID)
		}
		if err == nil && len(d.Certificate) == 0 {
			err = inventory.Errorf(inventory.ENOTFOUND, "No certificate was uploaded with this disposal.")
		}
		if err != nil {
			fail(w, r, err)
			return
		}
		name := d.CertificateName
		if name == "" {
			name = "certificate"
		}
		w.Header().Set("Content-Type", d.CertificateType)
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		w.Header().Set("X-Content-SHA256", d.CertificateSHA)
		w.Header().Set("Cache-Control", "private, no-store")
		w.Write(d.Certificate)
	})
}

// disposalJSON is a disposal as the API shows it; the certificate is
// fetched on its own.
type disposalJSON struct {
	AssetID           string `json:"asset_id"`
	Method            string `json:"method"`
	Date              string `json:"date"`
	Recipient         string `json:"recipient"`
	Notes             string `json:"notes"`
	CertificateName   string `json:"certificate_name,omitempty"`
	CertificateSHA256 string `json:"certificate_sha256,omitempty"`
	RecordedAt        string `json:"recorded_at"`
}

func (s *server) handleDisposeAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := disposalFromRequest(r)
		var d *inventory.Disposal
		if err == nil {
			// The API names kit by a register entry's or a device's ID.
			var a *inventory.Asset
			if a, _, err = s.pinAsset(r.Context(), r.PathValue("id")); err == nil {
				_, d, err = s.disposeAsset(r, a.ID.String(), in)
			}
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, disposalJSON{AssetID: d.AssetID.String(), Method: string(d.Method), Date: d.Date.Format(time.DateOnly),
			Recipient: d.Recipient, Notes: d.Notes, CertificateName: d.CertificateName, CertificateSHA256: d.CertificateSHA, RecordedAt: d.RecordedAt.UTC().Format(time.RFC3339)})
	})
}
