package web

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/billing/chargeback"
	"github.com/cic-platform/cic/tenant"
)

// reportRoutes registers chargeback reports: the JSON API (bearer token),
// the pages (session cookie) and the download route, which takes a bearer
// token or a signed link. Only finance and the owner may use them; the
// domain checks it (chargeback.CanUse).
func (s *Server) reportRoutes() {
	on := s.requireReports
	bearer := s.requireBearer
	s.api.Post("/reports/chargeback", bearer, on, s.apiRequestReport)
	s.api.Get("/reports", bearer, on, s.apiListReports)
	s.api.Get("/reports/:id", bearer, on, s.apiGetReport)
	// No bearer middleware: a signed link is its own authorization.
	s.api.Get("/reports/:id/download", on, s.apiDownloadReport)

	app := s.app
	csrf := s.csrfMiddleware()
	auth := s.pageAuth
	app.Get("/reports", csrf, auth, on, s.reportsPage)
	app.Post("/reports", csrf, auth, on, s.reportsSubmit)
	app.Get("/reports/:id", csrf, auth, on, s.reportPage)
	// The report page polls this with its session cookie and gets JSON.
	app.Get("/reports/:id/status", s.sessionJSON, on, s.reportStatus)
	app.Get("/reports/:id/download/:format", auth, on, s.reportPageDownload)
}

var reportsOff = cic.Codef(cic.EUNAVAILABLE, "reports_unavailable", "Reports are not configured on this server.")

// requireReports keeps the report routes off when reports are not wired.
func (s *Server) requireReports(c *fiber.Ctx) error {
	if s.cfg.Reports == nil {
		return reportsOff
	}
	return c.Next()
}

// reportAnswer is a report as the API shows it: with expiring signed
// links to its files once it is done.
type reportAnswer struct {
	chargeback.Report
	Downloads map[string]string `json:"downloads,omitempty"`
}

func (s *Server) reportAnswer(c *fiber.Ctx, a tenant.Actor, r chargeback.Report) reportAnswer {
	out := reportAnswer{Report: r}
	if r.Status == chargeback.StatusDone {
		out.Downloads = map[string]string{}
		for _, f := range chargeback.Formats {
			q := s.cfg.Reports.Links.Sign(a.TenantID, r.ID, a.UserID, f, time.Now())
			out.Downloads[f] = s.publicLink(c, "/api/v1/reports/"+r.ID.String()+"/download?"+q.Encode())
		}
	}
	return out
}

func (s *Server) apiRequestReport(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in chargeback.RequestInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	r, err := s.cfg.Reports.Request(c.UserContext(), a, in)
	if err != nil {
		return err
	}
	c.Location("/api/v1/reports/" + r.ID.String())
	return c.Status(fiber.StatusAccepted).JSON(s.reportAnswer(c, a, r))
}

func (s *Server) apiGetReport(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "report")
	if err != nil {
		return err
	}
	r, err := s.cfg.Reports.Get(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	return c.JSON(s.reportAnswer(c, a, r))
}

type reportPage struct {
	Reports    []chargeback.Report `json:"reports"`
	NextCursor string              `json:"next_cursor,omitempty"`
}

func (s *Server) apiListReports(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, 20, 100)
	if err != nil {
		return err
	}
	rs, next, err := s.cfg.Reports.List(c.UserContext(), a, chargeback.ListFilter{Cursor: c.Query("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(reportPage{Reports: rs, NextCursor: next})
}

// apiDownloadReport sends one file of a finished report: to a bearer of
// finance or the owner, or to whoever holds a signed link (format,
// tenant, user, expires, sig). A link that is not exactly one we signed is
// a 404, like a report of another tenant; so is a link presented with the
// token of another tenant.
func (s *Server) apiDownloadReport(c *fiber.Ctx) error {
	id, err := paramID(c, "report")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if c.Query("sig") != "" {
		q := url.Values{}
		for k, v := range c.Queries() {
			q.Set(k, v)
		}
		k, err := s.cfg.Reports.Links.Verify(id, q, time.Now())
		if err != nil {
			return err
		}
		if h := c.Get(fiber.HeaderAuthorization); h != "" {
			scheme, tok, _ := strings.Cut(h, " ")
			p, err := s.cfg.Tenants.Authenticate(ctx, strings.TrimSpace(tok))
			if err != nil || !strings.EqualFold(scheme, "Bearer") || p.TenantID != k.TenantID {
				return cic.Codef(cic.ENOTFOUND, "not_found", "No such report file.")
			}
		}
		r, f, err := s.cfg.Reports.DownloadLink(ctx, k, clientIP(c), requestIDOf(c))
		if err != nil {
			return err
		}
		return sendReportFile(c, r, f)
	}
	// Without a signature, the caller's token decides.
	if err := s.authenticateBearer(c); err != nil {
		return err
	}
	a, err := actor(c)
	if err != nil {
		return err
	}
	r, f, err := s.cfg.Reports.Download(ctx, a, id, c.Query("format"), "api")
	if err != nil {
		return err
	}
	return sendReportFile(c, r, f)
}

// sendReportFile streams a stored file: as stored (gzip) to a client that
// accepts it, decompressed as it goes to one that does not.
func sendReportFile(c *fiber.Ctx, r chargeback.Report, f *chargeback.File) error {
	name := fmt.Sprintf("chargeback-%s-%s-%s", r.From.Format("20060102"), r.To.Add(-time.Nanosecond).Format("20060102"), r.Dimension)
	switch f.Format {
	case chargeback.FormatCSV:
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		name += "-contacts.csv"
	case chargeback.FormatGroups:
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		name += "-groups.csv"
	default:
		c.Set(fiber.HeaderContentType, "application/pdf")
		name += ".pdf"
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	c.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	if f.ETag != "" {
		c.Set(fiber.HeaderETag, f.ETag)
	}
	if f.Gzip && acceptsGzip(c.Get(fiber.HeaderAcceptEncoding)) {
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.SendStream(f, int(f.Size))
	}
	raw, err := f.Raw()
	if err != nil {
		return err
	}
	return c.SendStream(raw, int(f.RawSize))
}

// acceptsGzip reads Accept-Encoding: gzip, unless given q=0.
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

func (s *Server) reportPageDownload(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "report")
	if err != nil {
		return err
	}
	r, f, err := s.cfg.Reports.Download(c.UserContext(), a, id, c.Params("format"), "page")
	if err != nil {
		return err
	}
	return sendReportFile(c, r, f)
}

// reportStatus is what the report page polls while the report is made.
func (s *Server) reportStatus(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "report")
	if err != nil {
		return jsonError(c, err)
	}
	r, err := s.cfg.Reports.Get(c.UserContext(), a, id)
	if err != nil {
		return jsonError(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"id": r.ID, "status": r.Status, "progress": r.Progress, "rows_done": r.RowsDone,
		"rows_total": r.RowsTotal, "error": r.Error})
}
