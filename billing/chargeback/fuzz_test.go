package chargeback

import (
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
)

// FuzzParseRequest: whatever finance sends, a request is either a valid
// period and dimension or a client error (400), never a panic or a 500.
func FuzzParseRequest(f *testing.F) {
	for _, s := range [][3]string{{"2026-01-01", "2026-02-01", "queue"}, {"2026-01-01T10:00:00+02:00", "2026-01-02T00:00:00Z", ""},
		{"", "", ""}, {"2026-02-30", "x", "cost_centre"}, {"0001-01-01", "9999-12-31", "agent_team"}} {
		f.Add(s[0], s[1], s[2])
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, from, to, dim string) {
		a, b, d, err := ParseRequest(RequestInput{From: from, To: to, Dimension: dim}, now)
		if err != nil {
			if cic.ErrorKind(err) != cic.EINVALID {
				t.Fatalf("%q %q %q: %v is not a client error", from, to, dim, err)
			}
			return
		}
		if !a.Before(b) || b.Sub(a) > MaxPeriod || !d.Valid() || a.After(now) {
			t.Fatalf("accepted [%s, %s) by %q", a, b, d)
		}
	})
}

// FuzzLinksVerify: no link but the one signed verifies, for any change of
// its query or of the report in its path.
func FuzzLinksVerify(f *testing.F) {
	l := Links{Key: []byte("fuzz key")}
	// Fixed ids: the fuzzing workers must agree with the corpus.
	tenant := uuid.MustParse("6b1d3a52-0c55-4a7e-9a0f-3d1e2c4b5a60")
	report := uuid.MustParse("0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b")
	user := uuid.MustParse("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	good := l.Sign(tenant, report, user, "csv", now)
	f.Add(good.Encode(), report.String())
	f.Add("format=pdf&"+good.Encode(), report.String())
	f.Add(good.Encode(), "1d2c3b4a-5968-4776-8594-a3b2c1d0e9f8")
	f.Fuzz(func(t *testing.T, query, path string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		id, err := uuid.Parse(path)
		if err != nil {
			return
		}
		k, err := l.Verify(id, q, now)
		if err != nil {
			return
		}
		// Anything that verifies names exactly what was signed.
		if k.TenantID != tenant || k.ReportID != report || k.UserID != user || k.Format != "csv" || q.Get("sig") != good.Get("sig") {
			t.Fatalf("verified a link that was not signed: %v for %s", q, id)
		}
	})
}
