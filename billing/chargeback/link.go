package chargeback

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// DefaultLinkTTL is how long a signed download link works.
const DefaultLinkTTL = 15 * time.Minute

// Links signs and checks download links: an HMAC-SHA256 over tenant,
// report, format, the user it was issued to and the expiry, so a link
// opens exactly one file of one report of one tenant until it expires,
// whoever holds it (a browser's download, a script), and nothing else.
type Links struct {
	Key []byte
	TTL time.Duration // 0 is DefaultLinkTTL
}

// Link is a signed download link's parameters.
type Link struct {
	TenantID uuid.UUID
	ReportID uuid.UUID
	Format   string
	// UserID is who the link was issued to (for the audit log).
	UserID  uuid.UUID
	Expires time.Time
}

func (l Links) mac(k Link) []byte {
	m := hmac.New(sha256.New, l.Key)
	// Fixed-length fields joined by a separator no field contains.
	m.Write([]byte("cic/report-download/v1|" + k.TenantID.String() + "|" + k.ReportID.String() + "|" + k.Format + "|" +
		k.UserID.String() + "|" + strconv.FormatInt(k.Expires.Unix(), 10)))
	return m.Sum(nil)
}

// Sign returns the query string of a link to one file, valid for TTL.
func (l Links) Sign(tenantID, reportID, userID uuid.UUID, format string, now time.Time) url.Values {
	ttl := l.TTL
	if ttl <= 0 {
		ttl = DefaultLinkTTL
	}
	k := Link{TenantID: tenantID, ReportID: reportID, Format: format, UserID: userID, Expires: now.Add(ttl).Truncate(time.Second)}
	return url.Values{
		"format":  {format},
		"tenant":  {tenantID.String()},
		"user":    {userID.String()},
		"expires": {strconv.FormatInt(k.Expires.Unix(), 10)},
		"sig":     {hex.EncodeToString(l.mac(k))},
	}
}

// errBadLink is every way a link can be wrong, alike: a forged or altered
// link must not tell which part was wrong, nor whether the report exists.
var errBadLink = cic.Codef(cic.ENOTFOUND, "not_found", "No such report file.")

// Verify checks a signed link for report reportID (from the path) and
// returns what it grants. The signature is compared in constant time,
// before the expiry is looked at.
func (l Links) Verify(reportID uuid.UUID, q url.Values, now time.Time) (Link, error) {
	if len(l.Key) == 0 {
		return Link{}, errBadLink
	}
	tenantID, err1 := uuid.Parse(q.Get("tenant"))
	userID, err2 := uuid.Parse(q.Get("user"))
	exp, err3 := strconv.ParseInt(q.Get("expires"), 10, 64)
	sig, err4 := hex.DecodeString(q.Get("sig"))
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || tenantID == uuid.Nil {
		return Link{}, errBadLink
	}
	// Only the encoding we sign with: one link, one spelling.
	if q.Get("tenant") != tenantID.String() || q.Get("user") != userID.String() || q.Get("expires") != strconv.FormatInt(exp, 10) ||
		q.Get("sig") != hex.EncodeToString(sig) {
		return Link{}, errBadLink
	}
	k := Link{TenantID: tenantID, ReportID: reportID, Format: q.Get("format"), UserID: userID, Expires: time.Unix(exp, 0).UTC()}
	if !hmac.Equal(sig, l.mac(k)) {
		return Link{}, errBadLink
	}
	if !now.Before(k.Expires) {
		return Link{}, cic.Codef(cic.EFORBIDDEN, "link_expired", "This download link has expired; open the report again for a new one.")
	}
	return k, nil
}

// Download opens a file of a finished report for a, who must be finance
// or the owner, and writes the download to the audit log. via says how
// it was asked for ("api", "signed_link", "page").
func (s *Service) Download(ctx context.Context, a tenant.Actor, id uuid.UUID, format, via string) (Report, *File, error) {
	if err := requireUse(a); err != nil {
		return Report{}, nil, err
	}
	return s.download(ctx, a, id, format, via)
}

// DownloadLink opens the file a verified signed link grants. The link
// stands in for its user's login, so the user must still be an active
// finance user or owner of its tenant.
func (s *Service) DownloadLink(ctx context.Context, k Link, ip, requestID string) (Report, *File, error) {
	var role string
	err := s.DB.Tx(ctx, k.TenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT role FROM users WHERE tenant_id = $1 AND id = $2 AND status = 'active'`, k.TenantID, k.UserID).Scan(&role)
	})
	if err != nil || !CanUse(cic.Role(role)) {
		return Report{}, nil, errBadLink
	}
	a := tenant.Actor{TenantID: k.TenantID, UserID: k.UserID, Role: cic.Role(role), IP: ip, RequestID: requestID}
	return s.download(ctx, a, k.ReportID, k.Format, "signed_link")
}

func validFormat(f string) bool {
	for _, k := range Formats {
		if f == k {
			return true
		}
	}
	return false
}

func (s *Service) download(ctx context.Context, a tenant.Actor, id uuid.UUID, format, via string) (Report, *File, error) {
	if !validFormat(format) {
		return Report{}, nil, cic.Codef(cic.EINVALID, "invalid_format", "format must be csv, groups or pdf.")
	}
	r, err := s.get(ctx, a.TenantID, id)
	if err != nil {
		return Report{}, nil, err
	}
	if r.Status != StatusDone {
		return Report{}, nil, cic.Codef(cic.ECONFLICT, "report_not_ready", "The report is %s; its files are there once it is done.", r.Status)
	}
	f, err := s.store().Open(ctx, s.DB, a.TenantID, id, format)
	if err != nil {
		return Report{}, nil, err
	}
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		return tenant.Audit(ctx, tx, a, "report.download", "report", id.String(), map[string]any{"format": format, "via": via})
	})
	if err != nil {
		_ = f.Close()
		return Report{}, nil, err
	}
	return r, f, nil
}
