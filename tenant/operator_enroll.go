package tenant

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
)

// OperatorEnrollment is what the enrollment page shows: the secret for
// the authenticator app, as text, as an otpauth:// URL and as a QR code.
type OperatorEnrollment struct {
	Operator Operator
	Secret   string
	URL      string
	// QR is a data: URL of a PNG of the otpauth URL.
	QR string
}

// Enrollment returns the TOTP secret an enrollment session is setting up,
// making one on the first call (later calls show the same one, so a
// reload does not invalidate what the app already scanned).
func (o *Operators) Enrollment(ctx context.Context, enrollToken string) (OperatorEnrollment, error) {
	op, err := o.Authenticate(ctx, enrollToken, OperatorEnroll)
	if err != nil {
		return OperatorEnrollment{}, err
	}
	var secret string
	if len(op.totpSealed) > 0 && !op.TOTPEnabled {
		if secret, err = o.open(op.ID, op.totpSealed); err != nil {
			secret = ""
		}
	}
	if secret == "" {
		k, err := o.newTOTPKey(op.Email)
		if err != nil {
			return OperatorEnrollment{}, err
		}
		secret = k.Secret()
		sealed, err := o.seal(op.ID, secret)
		if err != nil {
			return OperatorEnrollment{}, err
		}
		err = o.DB.operatorTx(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE operators SET totp_secret = $2, totp_enabled = false WHERE id = $1`, op.ID, sealed)
			return err
		})
		if err != nil {
			return OperatorEnrollment{}, fmt.Errorf("operator enrollment: %w", err)
		}
	}
	k, err := o.totpKeyURL(op.Email, secret)
	if err != nil {
		return OperatorEnrollment{}, err
	}
	e := OperatorEnrollment{Operator: op, Secret: secret, URL: k.URL()}
	if img, err := k.Image(200, 200); err == nil {
		var buf bytes.Buffer
		if png.Encode(&buf, img) == nil {
			e.QR = "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
		}
	}
	return e, nil
}

// Enroll finishes the first login: the operator's own password replaces
// the one-time one and the TOTP secret is confirmed by a code from the
// app. Every session of the operator ends; a page session opens.
func (o *Operators) Enroll(ctx context.Context, enrollToken, password, code string, m ClientMeta) (OperatorSession, error) {
	op, err := o.Authenticate(ctx, enrollToken, OperatorEnroll)
	if err != nil {
		return OperatorSession{}, err
	}
	if err := ValidatePassword(password, op.Email); err != nil {
		return OperatorSession{}, err
	}
	if checkPassword(password, op.passwordHash) {
		return OperatorSession{}, cic.Codef(cic.EINVALID, "password_unchanged", "Choose a password of your own, not the one-time password.")
	}
	if len(op.totpSealed) == 0 {
		return OperatorSession{}, cic.Codef(cic.ECONFLICT, "enrollment_not_started", "Open the enrollment page first to see the secret for your app.")
	}
	secret, err := o.open(op.ID, op.totpSealed)
	if err != nil {
		return OperatorSession{}, fmt.Errorf("operator enroll: %w", err)
	}
	step := matchTOTP(secret, strings.ReplaceAll(strings.TrimSpace(code), " ", ""), o.now())
	if step == 0 {
		return OperatorSession{}, cic.Codef(cic.EINVALID, "invalid_code", "That code is not right: enter the current 6-digit code of the app (is the phone's clock right?).")
	}
	hash, err := hashPassword(o.Password, password)
	if err != nil {
		return OperatorSession{}, err
	}
	err = o.DB.operatorTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE operators SET password_hash = $2, one_time_until = NULL, totp_enabled = true,
				totp_last_step = $3, failed_logins = 0
			WHERE id = $1 AND one_time_until IS NOT NULL`, op.ID, hash, step)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errOperatorSession
		}
		if _, err := tx.Exec(ctx, `DELETE FROM operator_sessions WHERE operator_id = $1`, op.ID); err != nil {
			return err
		}
		return operatorAudit(ctx, tx, op, m, "operator.enrolled", "operator", op.ID.String(), nil)
	})
	if err != nil {
		return OperatorSession{}, fmt.Errorf("operator enroll: %w", err)
	}
	op.TOTPEnabled, op.oneTimeUntil, op.totpLastStep = true, nil, step
	return o.openSession(ctx, op, OperatorPage, o.PageTTL, m, "operator.login", 0)
}

// EnsureEnrolled creates or repairs an operator with exactly this
// password and TOTP secret (base32), enrolled. It is for `cic demo`,
// whose operator's login is printed for everyone to read; real operators
// come from Add and choose their own.
func (o *Operators) EnsureEnrolled(ctx context.Context, email, name, password, secret string, m ClientMeta) (Operator, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Operator{}, err
	}
	if name, err = validOperatorName(name); err != nil {
		return Operator{}, err
	}
	if _, err := o.totpKeyURL(email, secret); err != nil {
		return Operator{}, err
	}
	hash, err := hashPassword(o.Password, password)
	if err != nil {
		return Operator{}, err
	}
	var op Operator
	err = o.DB.operatorTx(ctx, func(tx pgx.Tx) error {
		id := uuid.New()
		if err := tx.QueryRow(ctx, `SELECT id FROM operators WHERE email = $1`, email).Scan(&id); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		sealed, err := o.seal(id, secret)
		if err != nil {
			return err
		}
		op, err = scanOperator(tx.QueryRow(ctx, `INSERT INTO operators (id, email, name, password_hash, totp_secret, totp_enabled)
			VALUES ($1, $2, $3, $4, $5, true)
			ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name, password_hash = EXCLUDED.password_hash,
				totp_secret = EXCLUDED.totp_secret, totp_enabled = true, one_time_until = NULL, active = true
			RETURNING `+operatorColumns, id, email, name, hash, sealed))
		if err != nil {
			return err
		}
		if op.ID != id {
			// Created concurrently since we looked: seal for its id.
			if sealed, err = o.seal(op.ID, secret); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE operators SET totp_secret = $2 WHERE id = $1`, op.ID, sealed); err != nil {
				return err
			}
		}
		return operatorAudit(ctx, tx, Operator{Name: "cli"}, m, "operator.seeded", "operator", op.ID.String(), map[string]any{"email": email})
	})
	if err != nil {
		return Operator{}, fmt.Errorf("ensure operator: %w", err)
	}
	return op, nil
}
