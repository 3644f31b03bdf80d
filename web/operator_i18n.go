package web

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
)

// The operator's pages in German and English: ?lang=de|en chooses (and is
// remembered in a cookie), else the browser's Accept-Language, else English.

const cookieLang = "cic_lang"

func pageLang(c *fiber.Ctx) string {
	if q := c.Query("lang"); q == "de" || q == "en" {
		c.Cookie(&fiber.Cookie{Name: cookieLang, Value: q, Path: "/", MaxAge: int((365 * 24 * time.Hour).Seconds()),
			HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
		return q
	}
	if v := c.Cookies(cookieLang); v == "de" || v == "en" {
		return v
	}
	for _, part := range strings.Split(c.Get(fiber.HeaderAcceptLanguage), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch tag = strings.ToLower(tag); {
		case tag == "de" || strings.HasPrefix(tag, "de-"):
			return "de"
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			return "en"
		}
	}
	return "en"
}

// operatorText holds the operator pages' words, by language.
var operatorText = map[string]map[string]string{
	"en": {
		"title": "Platform operator", "enroll_title": "Set up your operator account",
		"email": "E-mail", "password": "Password", "code": "Code from the authenticator app", "login": "Log in",
		"first_time":   "First login? Use the one-time password that cic operator add printed and leave the code empty; you then choose your own password and set up the app.",
		"enroll_intro": "Scan the QR code with an authenticator app (or type the secret into it), then choose your password and enter the app's current code.",
		"secret":       "Secret", "link": "Link for the app", "new_password": "New password", "repeat_password": "Repeat the password",
		"finish": "Finish", "logged_in_as": "Logged in as", "leave": "Leave the operator console",
		"catalogue": "Catalogue", "queues": "Job queues", "tenants": "Tenants", "failed_jobs": "Failed jobs",
		"findings": "Reconciliation findings", "audit": "Operator audit log", "saved": "Saved; the Stripe sync follows in the background.",
		"at": "When", "who": "Operator", "action": "Action", "target": "Target", "no_audit": "Nothing recorded yet.",
		"overage_rates": "Overage rate (per contact beyond the bundles)", "currency": "Currency", "price_minor": "Price (minor units)",
		"set_overage_rate": "Set overage rate", "overage_price": "Overage price", "negotiated": "negotiated",
		"catalogue_rate": "catalogue", "save": "Save", "back_to_catalogue": "Back to the catalogue rate",
	},
	"de": {
		"title": "Plattform-Betrieb", "enroll_title": "Betreiberkonto einrichten",
		"email": "E-Mail", "password": "Passwort", "code": "Code aus der Authenticator-App", "login": "Anmelden",
		"first_time":   "Erste Anmeldung? Nehmen Sie das Einmalpasswort, das cic operator add ausgegeben hat, und lassen Sie den Code leer; danach wählen Sie Ihr eigenes Passwort und richten die App ein.",
		"enroll_intro": "Scannen Sie den QR-Code mit einer Authenticator-App (oder geben Sie den Schlüssel dort ein), wählen Sie dann Ihr Passwort und geben Sie den aktuellen Code der App ein.",
		"secret":       "Schlüssel", "link": "Link für die App", "new_password": "Neues Passwort", "repeat_password": "Passwort wiederholen",
		"finish": "Abschließen", "logged_in_as": "Angemeldet als", "leave": "Betreiberkonsole verlassen",
		"catalogue": "Katalog", "queues": "Job-Warteschlangen", "tenants": "Mandanten", "failed_jobs": "Fehlgeschlagene Jobs",
		"findings": "Abgleich mit Stripe", "audit": "Protokoll der Betreiber", "saved": "Gespeichert; der Abgleich mit Stripe folgt im Hintergrund.",
		"at": "Wann", "who": "Betreiber", "action": "Aktion", "target": "Ziel", "no_audit": "Noch nichts protokolliert.",
		"overage_rates": "Überziehungspreis (je Kontakt über die Pakete hinaus)", "currency": "Währung", "price_minor": "Preis (kleinste Einheit)",
		"set_overage_rate": "Überziehungspreis setzen", "overage_price": "Überziehungspreis", "negotiated": "verhandelt",
		"catalogue_rate": "Katalog", "save": "Speichern", "back_to_catalogue": "Zurück zum Katalogpreis",
	},
}

// operatorErrorsDE are the German words for the errors of the operator's
// login and enrollment; others keep their English message.
var operatorErrorsDE = map[string]string{
	"invalid_credentials":      "E-Mail, Passwort oder Code ist nicht richtig.",
	"missing_credentials":      "E-Mail und Passwort sind erforderlich.",
	"rate_limited":             "Zu viele Fehlversuche; bitte versuchen Sie es später noch einmal.",
	"rate_limiter_unavailable": "Die Anmeldung ist kurz nicht verfügbar; bitte gleich noch einmal versuchen.",
	"invalid_code":             "Der Code stimmt nicht: geben Sie den aktuellen 6-stelligen Code der App ein (geht die Uhr des Telefons richtig?).",
	"weak_password":            "Das Passwort ist zu leicht zu erraten: mindestens 10 Zeichen, kein bekanntes Passwort, nicht Ihr E-Mail-Name.",
	"invalid_password":         "Das Passwort ist höchstens 128 Bytes lang und gültiger Text.",
	"password_unchanged":       "Wählen Sie ein eigenes Passwort, nicht das Einmalpasswort.",
	"password_mismatch":        "Die beiden Passwörter stimmen nicht überein.",
	"unauthenticated":          "Die Einrichtung ist abgelaufen; melden Sie sich noch einmal mit dem Einmalpasswort an.",
}

// operatorError is err's message in lang, for the operator's pages.
func operatorError(lang string, err error) string {
	_, code, msg := classify(err)
	if e, ok := cic.AsError(err); ok {
		code = e.Code
	}
	if lang == "de" {
		if m, ok := operatorErrorsDE[code]; ok {
			return m
		}
	}
	return msg
}
