package tenant

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
)

// SignupInput is a company signing itself up.
type SignupInput struct {
	Company  string `json:"company"`
	Slug     string `json:"slug"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Password string `json:"password"`
	Currency string `json:"currency"`
}

// SignupResult is the new tenant, its owner and their first session.
type SignupResult struct {
	Tenant Tenant
	User   User
	Tokens Tokens
}

func (in *SignupInput) validate() error {
	var err error
	if in.Company, err = ValidateName("company", in.Company, 200); err != nil {
		return err
	}
	in.Slug = strings.ToLower(strings.TrimSpace(in.Slug))
	if in.Slug != "" {
		if err := ValidateSlug(in.Slug); err != nil {
			return err
		}
	}
	if in.Name, err = ValidateName("name", in.Name, 200); err != nil {
		return err
	}
	if in.Email, err = NormalizeEmail(in.Email); err != nil {
		return err
	}
	if err := ValidatePassword(in.Password, in.Email); err != nil {
		return err
	}
	if in.Currency, err = ValidateCurrency(in.Currency); err != nil {
		return err
	}
	return nil
}

// Signup creates a tenant, its owner and whatever the OnSignup hooks add
// (the trial grant) in one transaction, and opens the owner's session.
// An explicit slug that is taken is a conflict (slug_taken); a slug
// derived from the company name gets a short suffix instead.
func (s *Service) Signup(ctx context.Context, in SignupInput, m ClientMeta) (SignupResult, error) {
	if err := in.validate(); err != nil {
		return SignupResult{}, err
	}
	if s.Limiter != nil {
		if err := s.Limiter.allow(ctx, "signup:ip:"+m.IP, s.Limiter.Limits.SignupPerIP); err != nil {
			return SignupResult{}, err
		}
		// Per account: one address cannot mint companies from many IPs.
		if err := s.Limiter.allow(ctx, "signup:email:"+in.Email, s.Limiter.Limits.SignupPerEmail); err != nil {
			return SignupResult{}, err
		}
	}
	hash, err := hashPassword(s.Password, in.Password)
	if err != nil {
		return SignupResult{}, err
	}
	explicit := in.Slug != ""
	slug := in.Slug
	if !explicit {
		slug = Slugify(in.Company)
		if ValidateSlug(slug) != nil {
			slug = "company"
		}
	}
	// Suffixes go on the derived slug, which is valid; Slugify's own
	// result may be empty (a name with no ASCII letters) or reserved.
	base := strings.TrimRight(slug[:min(len(slug), 30)], "-")
	for attempt := 0; ; attempt++ {
		res, err := s.signup(ctx, in, slug, hash, m)
		if err == nil || explicit || attempt == 4 {
			return res, err
		}
		if e, ok := cic.AsError(err); !ok || e.Code != "slug_taken" {
			return res, err
		}
		slug = base + "-" + randomSuffix()
	}
}

func (s *Service) signup(ctx context.Context, in SignupInput, slug, hash string, m ClientMeta) (SignupResult, error) {
	if err := ValidateSlug(slug); err != nil {
		return SignupResult{}, err
	}
	var res SignupResult
	tenantID := uuid.New()
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		t, err := scanTenant(tx.QueryRow(ctx, `INSERT INTO tenants (tenant_id, slug, name, currency) VALUES ($1, $2, $3, $4)
			RETURNING `+tenantColumns, tenantID, slug, in.Company, in.Currency))
		if isUniqueViolation(err, "tenants_slug_key") {
			return cic.Codef(cic.ECONFLICT, "slug_taken", "The address %q is already taken; choose another.", slug)
		}
		if err != nil {
			return fmt.Errorf("insert tenant: %w", err)
		}
		u, err := insertUser(ctx, tx, tenantID, NewUser{Email: in.Email, Name: in.Name, Role: cic.RoleOwner}, &hash, StatusActive)
		if err != nil {
			return err
		}
		now := s.now()
		for _, hook := range s.OnSignup {
			if err := hook(ctx, tx, t, now); err != nil {
				return fmt.Errorf("signup hook: %w", err)
			}
		}
		actor := Actor{TenantID: tenantID, UserID: u.ID, Role: cic.RoleOwner, IP: m.IP, RequestID: m.RequestID}
		if err := Audit(ctx, tx, actor, "tenant.signup", "tenant", tenantID.String(), map[string]any{"slug": slug, "currency": in.Currency}); err != nil {
			return err
		}
		tok, err := s.issueTokens(ctx, tx, u, uuid.Nil, m)
		if err != nil {
			return err
		}
		res = SignupResult{Tenant: t, User: u, Tokens: tok}
		return nil
	})
	if err != nil {
		return SignupResult{}, err
	}
	if s.AfterSignup != nil {
		if err := s.AfterSignup(ctx, res.Tenant); err != nil {
			return res, &AfterSignupError{Result: res, Err: err}
		}
	}
	return res, nil
}

// AfterSignupError reports that the tenant exists but a follow-up step
// (e.g. enqueueing a job) failed; the caller logs it and carries on.
type AfterSignupError struct {
	Result SignupResult
	Err    error
}

func (e *AfterSignupError) Error() string { return "after signup: " + e.Err.Error() }
func (e *AfterSignupError) Unwrap() error { return e.Err }

func randomSuffix() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
