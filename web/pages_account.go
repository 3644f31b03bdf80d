package web

import (
	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// accountText holds the account page's words, by language.
var accountText = map[string]map[string]string{
	"en": {
		"title": "Your account", "change": "Change your password", "current": "Current password",
		"new": "New password", "repeat": "Repeat the new password", "save": "Change password",
		"rule":    "At least 10 characters; no common words, no repeated characters, not your e-mail name. Changing it logs you out on every other device.",
		"changed": "Your password is changed. Every other session of yours has ended.",
		"lang":    "Sprache: Deutsch",
	},
	"de": {
		"title": "Ihr Konto", "change": "Passwort ändern", "current": "Aktuelles Passwort",
		"new": "Neues Passwort", "repeat": "Neues Passwort wiederholen", "save": "Passwort ändern",
		"rule":    "Mindestens 10 Zeichen; keine gängigen Wörter, keine wiederholten Zeichen, nicht Ihr E-Mail-Name. Nach der Änderung sind Sie auf allen anderen Geräten abgemeldet.",
		"changed": "Ihr Passwort ist geändert. Alle anderen Sitzungen sind beendet.",
		"lang":    "Language: English",
	},
}

// accountErrorsDE are the German words for the errors of a password change.
var accountErrorsDE = map[string]string{
	"wrong_password":    "Das aktuelle Passwort stimmt nicht.",
	"weak_password":     "Das neue Passwort ist zu leicht zu erraten: mindestens 10 Zeichen, keine gängigen Wörter, keine wiederholten Zeichen, nicht Ihr E-Mail-Name.",
	"invalid_password":  "Das Passwort darf höchstens 128 Byte lang sein und muss gültiger Text sein.",
	"password_mismatch": "Die beiden neuen Passwörter sind verschieden.",
	"password_changed":  "Ihr Konto wurde inzwischen geändert; bitte melden Sie sich neu an.",
	"rate_limited":      "Zu viele Versuche; bitte warten Sie einen Moment.",
}

type accountView struct {
	Lang, Other string
	T           map[string]string
}

func (s *Server) accountPage(c *fiber.Ctx) error {
	d := s.accountData(c)
	if c.Query("done") == "password" {
		d.Notice = accountText[d.Lang]["changed"]
	}
	return s.render(c, "account", d)
}

func (s *Server) accountData(c *fiber.Ctx) pageData {
	lang := pageLang(c)
	other := "de"
	if lang == "de" {
		other = "en"
	}
	return pageData{Title: accountText[lang]["title"], Lang: lang,
		Data: accountView{Lang: lang, Other: other, T: accountText[lang]}}
}

// accountPasswordSubmit changes the user's password: every other session
// ends, and this browser carries on in a new one.
func (s *Server) accountPasswordSubmit(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	in := tenant.PasswordChange{Current: c.FormValue("current_password"), New: c.FormValue("new_password")}
	if in.New != c.FormValue("new_password2") {
		err = cic.Codef(cic.EINVALID, "password_mismatch", "The two new passwords differ.")
	} else {
		var toks tenant.Tokens
		toks, err = s.cfg.Tenants.ChangePassword(c.UserContext(), a, in, clientMeta(c))
		if err == nil {
			s.startSession(c, toks)
			return c.Redirect("/account?done=password", fiber.StatusSeeOther)
		}
	}
	d := s.accountData(c)
	st, code, msg := classify(err)
	if st >= 500 {
		return err
	}
	if m, ok := accountErrorsDE[code]; ok && d.Lang == "de" {
		msg = m
	}
	d.Error = msg
	return s.renderStatus(c, st, "account", d)
}
