package tenant

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-redis/redis_rate/v10"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
)

// Operators are the platform's operators: people with an e-mail, a name,
// a password and a TOTP second factor, who edit the catalogue and watch
// the platform. `cic operator add` creates one with a one-time password,
// which opens only the enrollment (a new password and the authenticator
// app); every later login needs e-mail, password and a fresh TOTP code.
// Failed logins are rate-limited per account and per client address.
//
// The operator tables are read only inside operatorTx (app.operator =
// 'on'), which no tenant transaction sets.
type Operators struct {
	DB       *DB
	Limiter  *Limiter // nil: no limits on failed logins
	Limits   OperatorLimits
	Password PasswordParams
	// TOTPKey seals the TOTP secrets (32 bytes); NewOperators derives it
	// from the signing key.
	TOTPKey []byte
	// Issuer names the platform in authenticator apps.
	Issuer string

	PageTTL    time.Duration // the console's cookie
	APITTL     time.Duration // a bearer token of POST /api/v1/operator/login
	EnrollTTL  time.Duration // from the one-time password to the enrolled factor
	OneTimeTTL time.Duration // how long a one-time password opens the enrollment
	Now        func() time.Time

	dummyOnce sync.Once
	dummy     string
}

// OperatorLimits count failed operator logins only: an operator who types
// their password right is never slowed down by someone else's guesses
// from another address, beyond the per-account limit.
type OperatorLimits struct {
	FailuresPerAccount redis_rate.Limit
	FailuresPerIP      redis_rate.Limit
}

// DefaultOperatorLimits: five wrong tries an account per quarter hour,
// twenty an address.
var DefaultOperatorLimits = OperatorLimits{
	FailuresPerAccount: redis_rate.Limit{Rate: 5, Burst: 5, Period: 15 * time.Minute},
	FailuresPerIP:      redis_rate.Limit{Rate: 20, Burst: 20, Period: 15 * time.Minute},
}

// NewOperators returns the operator accounts with production defaults.
func NewOperators(db *DB, keys *Keys, limiter *Limiter) *Operators {
	o := &Operators{DB: db, Limiter: limiter, Limits: DefaultOperatorLimits, Password: DefaultPasswordParams,
		PageTTL: 12 * time.Hour, APITTL: 15 * time.Minute, EnrollTTL: 15 * time.Minute, OneTimeTTL: 7 * 24 * time.Hour,
		Now: time.Now}
	if keys != nil {
		// Shared by the replicas that share the signing key; rotating that
		// key means `cic operator reset` for every operator.
		o.TOTPKey = keys.Derive("operator-totp")
	}
	return o
}

// Operator is one operator account.
type Operator struct {
	ID           uuid.UUID  `json:"id"`
	Email        string     `json:"email"`
	Name         string     `json:"name"`
	TOTPEnabled  bool       `json:"totp_enabled"`
	Active       bool       `json:"active"`
	FailedLogins int        `json:"failed_logins"`
	LastFailedAt *time.Time `json:"last_failed_at,omitempty"`
	LastLoginAt  *time.Time `json:"last_login_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`

	oneTimeUntil *time.Time
	passwordHash string
	totpSealed   []byte
	totpLastStep int64
}

// OperatorSessionKind says what an operator session opens.
type OperatorSessionKind string

const (
	// OperatorPage is the console's cookie (/operator).
	OperatorPage OperatorSessionKind = "page"
	// OperatorAPI is the bearer token for /api/v1/operator/*.
	OperatorAPI OperatorSessionKind = "api"
	// OperatorEnroll opens only the enrollment, after a one-time password.
	OperatorEnroll OperatorSessionKind = "enroll"
)

// OperatorSession is a token just issued; only its hash is stored.
type OperatorSession struct {
	Token     string              `json:"token"`
	Kind      OperatorSessionKind `json:"kind"`
	ExpiresAt time.Time           `json:"expires_at"`
	Operator  Operator            `json:"operator"`
}

// OperatorLogin is what the login form or API sends.
type OperatorLogin struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Code     string `json:"code"`
}

var (
	errOperatorCredentials = cic.Codef(cic.EUNAUTHORIZED, "invalid_credentials", "The e-mail, password or code is not right.")
	errOperatorSession     = cic.Codef(cic.EUNAUTHORIZED, "unauthenticated", "Log in as an operator (POST /api/v1/operator/login) and send Authorization: Bearer <token>.")
	errEnrollmentRequired  = cic.Codef(cic.EFORBIDDEN, "enrollment_required", "This is a one-time password: log in on /operator first to choose your password and set up the authenticator app.")
)

const operatorColumns = `id, email, name, password_hash, one_time_until, totp_secret, totp_enabled, totp_last_step,
	failed_logins, last_failed_at, last_login_at, active, created_at`

func scanOperator(r pgx.Row) (Operator, error) {
	var op Operator
	err := r.Scan(&op.ID, &op.Email, &op.Name, &op.passwordHash, &op.oneTimeUntil, &op.totpSealed, &op.TOTPEnabled,
		&op.totpLastStep, &op.FailedLogins, &op.LastFailedAt, &op.LastLoginAt, &op.Active, &op.CreatedAt)
	return op, err
}

// operatorTx is the one way to the operator tables (policy operator_only).
func (db *DB) operatorTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return db.tx(ctx, "app.operator", "on", fn)
}

func (o *Operators) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Operators) dummyHash() string {
	o.dummyOnce.Do(func() { o.dummy, _ = hashPassword(o.Password, "not-a-real-operator-password") })
	return o.dummy
}

// oneTimePassword is 20 random characters from an alphabet without look-alikes.
func oneTimePassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func validOperatorName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
		return "", cic.Codef(cic.EINVALID, "invalid_name", "The operator's name is 1 to 100 characters.")
	}
	return name, nil
}

// Add creates an operator and returns its one-time password, the only
// time it is shown. name defaults to the e-mail's local part.
func (o *Operators) Add(ctx context.Context, email, name string, m ClientMeta) (Operator, string, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Operator{}, "", err
	}
	if strings.TrimSpace(name) == "" {
		name = email[:strings.IndexByte(email, '@')]
	}
	if name, err = validOperatorName(name); err != nil {
		return Operator{}, "", err
	}
	pw := oneTimePassword()
	hash, err := hashPassword(o.Password, pw)
	if err != nil {
		return Operator{}, "", err
	}
	var op Operator
	err = o.DB.operatorTx(ctx, func(tx pgx.Tx) error {
		var err error
		op, err = scanOperator(tx.QueryRow(ctx, `INSERT INTO operators (id, email, name, password_hash, one_time_until)
			VALUES ($1, $2, $3, $4, $5) RETURNING `+operatorColumns, uuid.New(), email, name, hash, o.now().Add(o.OneTimeTTL)))
		if isUniqueViolation(err, "") {
			return cic.Codef(cic.ECONFLICT, "operator_exists", "An operator with the e-mail %s exists; `cic operator reset` gives them a new one-time password.", email)
		}
		if err != nil {
			return err
		}
		return operatorAudit(ctx, tx, Operator{Name: "cli", Email: ""}, m, "operator.added", "operator", op.ID.String(), map[string]any{"email": email, "name": name})
	})
	if err != nil {
		return Operator{}, "", fmt.Errorf("add operator: %w", err)
	}
	return op, pw, nil
}

// Reset gives an operator a new one-time password and forgets their TOTP
// secret (a lost phone, a rotated signing key); their sessions end.
func (o *Operators) Reset(ctx context.Context, email string, m ClientMeta) (Operator, string, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Operator{}, "", err
	}
	pw := oneTimePassword()
	hash, err := hashPassword(o.Password, pw)
	if err != nil {
		return Operator{}, "", err
	}
	var op Operator
	err = o.DB.operatorTx(ctx, func(tx pgx.Tx) error {
		var err error
		op, err = scanOperator(tx.QueryRow(ctx, `UPDATE operators SET password_hash = $2, one_time_until = $3,
				totp_secret = NULL, totp_enabled = false, failed_logins = 0, active = true
			WHERE email = $1 RETURNING `+operatorColumns, email, hash, o.now().Add(o.OneTimeTTL)))
		if errors.Is(err, pgx.ErrNoRows) {
			return cic.Codef(cic.ENOTFOUND, "operator_not_found", "There is no operator with the e-mail %s.", email)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM operator_sessions WHERE operator_id = $1`, op.ID); err != nil {
			return err
		}
		return operatorAudit(ctx, tx, Operator{Name: "cli"}, m, "operator.reset", "operator", op.ID.String(), map[string]any{"email": email})
	})
	if err != nil {
		return Operator{}, "", fmt.Errorf("reset operator: %w", err)
	}
	return op, pw, nil
}

// List returns every operator, oldest first.
func (o *Operators) List(ctx context.Context) ([]Operator, error) {
	var out []Operator
	err := o.DB.operatorTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+operatorColumns+` FROM operators ORDER BY created_at, email`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Operator, error) { return scanOperator(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	return out, nil
}

// Login checks e-mail, password and TOTP code and opens a session of
// kind (OperatorPage or OperatorAPI). With the one-time password it opens
// an OperatorEnroll session instead when allowEnroll (the console), and is
// refused with enrollment_required otherwise (the API). Unknown e-mail,
// wrong password, wrong or replayed code: one answer, after the same
// password-hash work; each counts against the failed-login limits.
func (o *Operators) Login(ctx context.Context, in OperatorLogin, kind OperatorSessionKind, allowEnroll bool, m ClientMeta) (OperatorSession, error) {
	email := strings.ToLower(strings.TrimSpace(in.Email))
	code := strings.ReplaceAll(strings.TrimSpace(in.Code), " ", "")
	if email == "" || in.Password == "" {
		return OperatorSession{}, cic.Codef(cic.EINVALID, "missing_credentials", "E-mail and password are required.")
	}
	if kind != OperatorPage && kind != OperatorAPI {
		return OperatorSession{}, fmt.Errorf("operator login: kind %q", kind)
	}
	acctKey, ipKey := "oplogin:acct:"+email, "oplogin:ip:"+m.IP
	if err := o.blocked(ctx, ipKey, o.Limits.FailuresPerIP); err != nil {
		return OperatorSession{}, err
	}
	if err := o.blocked(ctx, acctKey, o.Limits.FailuresPerAccount); err != nil {
		return OperatorSession{}, err
	}
	var op Operator
	found := false
	if len(email) <= 254 && utf8.ValidString(email) && !strings.ContainsRune(email, 0) {
		err := o.DB.operatorTx(ctx, func(tx pgx.Tx) error {
			var err error
			op, err = scanOperator(tx.QueryRow(ctx, `SELECT `+operatorColumns+` FROM operators WHERE email = $1`, email))
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			found = err == nil
			return err
		})
		if err != nil {
			return OperatorSession{}, fmt.Errorf("operator login: %w", err)
		}
	}
	hash := o.dummyHash()
	if found {
		hash = op.passwordHash
	}
	now := o.now()
	passwordOK := len(in.Password) <= 128 && checkPassword(in.Password, hash) && found && op.Active
	fail := func() (OperatorSession, error) {
		o.failed(ctx, acctKey, ipKey, op, found)
		return OperatorSession{}, errOperatorCredentials
	}
	if !passwordOK {
		return fail()
	}
	if op.oneTimeUntil != nil {
		if now.After(*op.oneTimeUntil) {
			return fail()
		}
		if !allowEnroll {
			return OperatorSession{}, errEnrollmentRequired
		}
		return o.openSession(ctx, op, OperatorEnroll, o.EnrollTTL, m, "", 0)
	}
	if !op.TOTPEnabled || len(op.totpSealed) == 0 {
		return fail()
	}
	secret, err := o.open(op.ID, op.totpSealed)
	if err != nil {
		return OperatorSession{}, fmt.Errorf("operator login: %w", err)
	}
	step := matchTOTP(secret, code, now)
	if step == 0 || step <= op.totpLastStep {
		return fail()
	}
	sess, err := o.openSession(ctx, op, kind, o.ttl(kind), m, "operator.login", step)
	if errors.Is(err, errCodeReplayed) {
		return fail()
	}
	return sess, err
}

var errCodeReplayed = errors.New("totp code already used")

func (o *Operators) ttl(kind OperatorSessionKind) time.Duration {
	if kind == OperatorAPI {
		return o.APITTL
	}
	return o.PageTTL
}

// openSession issues a token for op, clears its failures and, given an
// action, audits it. Given a TOTP step it first takes it (so one code
// never opens two sessions, even from two concurrent logins): a step not
// later than the last one taken is errCodeReplayed.
func (o *Operators) openSession(ctx context.Context, op Operator, kind OperatorSessionKind, ttl time.Duration, m ClientMeta, action string, step int64) (OperatorSession, error) {
	tok, hash := newOperatorToken()
	exp := o.now().Add(ttl)
	err := o.DB.operatorTx(ctx, func(tx pgx.Tx) error {
		if step > 0 {
			tag, err := tx.Exec(ctx, `UPDATE operators SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2`, op.ID, step)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return errCodeReplayed
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE operators SET failed_logins = 0, last_login_at = CASE WHEN $2 THEN now() ELSE last_login_at END WHERE id = $1`,
			op.ID, action != ""); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO operator_sessions (token_hash, operator_id, kind, ip, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			hash, op.ID, string(kind), m.IP, exp); err != nil {
			return err
		}
		// Expired sessions of this operator go as new ones come.
		if _, err := tx.Exec(ctx, `DELETE FROM operator_sessions WHERE operator_id = $1 AND expires_at < $2`, op.ID, o.now()); err != nil {
			return err
		}
		if action == "" {
			return nil
		}
		return operatorAudit(ctx, tx, op, m, action, "operator", op.ID.String(), map[string]any{"session": string(kind)})
	})
	if errors.Is(err, errCodeReplayed) {
		return OperatorSession{}, err
	}
	if err != nil {
		return OperatorSession{}, fmt.Errorf("operator session: %w", err)
	}
	return OperatorSession{Token: tok, Kind: kind, ExpiresAt: exp, Operator: op}, nil
}

func newOperatorToken() (string, []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	return tok, tokenHash(tok)
}

func tokenHash(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// Authenticate returns the operator of an unexpired session of kind.
func (o *Operators) Authenticate(ctx context.Context, token string, kind OperatorSessionKind) (Operator, error) {
	if token == "" || len(token) > 100 {
		return Operator{}, errOperatorSession
	}
	var op Operator
	err := o.DB.operatorTx(ctx, func(tx pgx.Tx) error {
		var err error
		op, err = scanOperator(tx.QueryRow(ctx, `SELECT `+prefixed("o.", operatorColumns)+` FROM operator_sessions s
			JOIN operators o ON o.id = s.operator_id
			WHERE s.token_hash = $1 AND s.kind = $2 AND s.expires_at > $3 AND o.active`, tokenHash(token), string(kind), o.now()))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Operator{}, errOperatorSession
	}
	if err != nil {
		return Operator{}, fmt.Errorf("operator session: %w", err)
	}
	return op, nil
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// Logout ends the session of token (any kind); an unknown token is fine.
func (o *Operators) Logout(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	err := o.DB.operatorTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM operator_sessions WHERE token_hash = $1`, tokenHash(token))
		return err
	})
	if err != nil {
		return fmt.Errorf("operator logout: %w", err)
	}
	return nil
}

// blocked refuses when key has no failure left in its bucket, without
// taking one: only failures are counted.
func (o *Operators) blocked(ctx context.Context, key string, lim redis_rate.Limit) error {
	l := o.Limiter
	if l == nil || lim.Rate <= 0 {
		return nil
	}
	res, err := l.rl.AllowN(ctx, l.prefix+"rl:"+key, lim, 0)
	if err != nil {
		return cic.Codef(cic.EUNAVAILABLE, "rate_limiter_unavailable", "Sign-in is briefly unavailable; try again in a moment.")
	}
	if res.Remaining < 1 {
		wait := int(math.Ceil((lim.Period / time.Duration(lim.Rate)).Seconds()))
		return &cic.Error{Kind: cic.ERATELIMIT, Code: "rate_limited",
			Message: fmt.Sprintf("Too many failed attempts; try again in %d seconds.", max(wait, 1))}
	}
	return nil
}

// failed counts one failed login against the account and the address,
// and on the operator's row when there is one.
func (o *Operators) failed(ctx context.Context, acctKey, ipKey string, op Operator, found bool) {
	if l := o.Limiter; l != nil {
		for _, k := range []struct {
			key string
			lim redis_rate.Limit
		}{{acctKey, o.Limits.FailuresPerAccount}, {ipKey, o.Limits.FailuresPerIP}} {
			if k.lim.Rate > 0 {
				_, _ = l.rl.Allow(ctx, l.prefix+"rl:"+k.key, k.lim)
			}
		}
	}
	if found {
		_ = o.DB.operatorTx(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE operators SET failed_logins = failed_logins + 1, last_failed_at = now() WHERE id = $1`, op.ID)
			return err
		})
	}
}
