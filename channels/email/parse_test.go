package email_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/email"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		check     func(t *testing.T, m *email.Mail)
	}{
		{"plain with threading", "From: \"Kunde, Carla\" <Carla@Customer.Example>\nTo: a@b.c, d@e.f\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n" +
			"Message-ID: <x1@c.example>\nIn-Reply-To: <p@c.example>\nReferences: <r1@c.example>\n <p@c.example>\n\nHallo\n", func(t *testing.T, m *email.Mail) {
			if m.From.Name != "Kunde, Carla" || m.From.Address != "Carla@Customer.Example" || m.Subject != "Grüße" || m.MessageID != "x1@c.example" ||
				strings.Join(m.InReplyTo, ",") != "p@c.example" || strings.Join(m.References, ",") != "r1@c.example,p@c.example" || m.Text != "Hallo" ||
				strings.Join(m.To, ",") != "a@b.c,d@e.f" {
				t.Errorf("%+v", m)
			}
		}},
		{"latin-1 body", "From: a@b.c\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nStra=DFe\n", func(t *testing.T, m *email.Mail) {
			if m.Text != "Straße" {
				t.Errorf("text %q", m.Text)
			}
		}},
		{"html only", "From: a@b.c\nContent-Type: text/html\n\n<html><head><style>p{}</style></head><body><p>Hello <b>you</b></p><p>See <a href=\"https://x.example/o\">order</a></p><script>x()</script></body></html>\n", func(t *testing.T, m *email.Mail) {
			if m.Text != "Hello you\nSee order (https://x.example/o)" || !m.FromHTML {
				t.Errorf("text %q", m.Text)
			}
		}},
		{"alternative prefers text", "From: a@b.c\nContent-Type: multipart/alternative; boundary=x\n\n--x\nContent-Type: text/plain\n\nplain\n--x\nContent-Type: text/html\n\n<p>html</p>\n--x--\n", func(t *testing.T, m *email.Mail) {
			if m.Text != "plain" || m.FromHTML {
				t.Errorf("text %q", m.Text)
			}
		}},
		{"attachment only, path in name", "From: a@b.c\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: image/png\nContent-Disposition: attachment; filename=\"../../etc/passwd.png\"\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--x--\n", func(t *testing.T, m *email.Mail) {
			if len(m.Attachments) != 1 || m.Attachments[0].Filename != "passwd.png" || string(m.Attachments[0].Data) != "hello" || m.Attachments[0].ContentType != "image/png" {
				t.Errorf("%+v", m.Attachments)
			}
		}},
		{"no message-id: stable synthesized one", "From: a@b.c\n\nhi\n", func(t *testing.T, m *email.Mail) {
			again, _ := email.Parse(crlf("From: a@b.c\n\nhi\n"))
			other, _ := email.Parse(crlf("From: a@b.c\n\nho\n"))
			if !m.Synthesized || m.MessageID == "" || again.MessageID != m.MessageID || other.MessageID == m.MessageID {
				t.Errorf("%q %q %q", m.MessageID, again.MessageID, other.MessageID)
			}
		}},
		{"automatic", "From: a@b.c\nAuto-Submitted: auto-replied\n\nOut of office\n", func(t *testing.T, m *email.Mail) {
			if !m.Automatic {
				t.Error("not automatic")
			}
		}},
		{"NUL and bad UTF-8 made storable", "From: a@b.c\nSubject: a\xffb\n\nx\x00y\xfez\n", func(t *testing.T, m *email.Mail) {
			if strings.ContainsRune(m.Text, 0) || !utf8.ValidString(m.Text) || !utf8.ValidString(m.Subject) {
				t.Errorf("%q %q", m.Text, m.Subject)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := email.Parse(crlf(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, m)
		})
	}
}

func TestParse_Refuses(t *testing.T) {
	big := strings.Repeat("QUFB", conversation.MaxAttachment/3+10)
	for name, raw := range map[string]string{
		"no from":       "To: a@b.c\n\nhi\n",
		"no content":    "From: a@b.c\nSubject: only a subject\n\n \n",
		"garbage":       "\x00\x01\x02",
		"huge attached": "From: a@b.c\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: application/zip\nContent-Transfer-Encoding: base64\n\n" + big + "\n--x--\n",
	} {
		if _, err := email.Parse(crlf(raw)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := email.Parse(crlf("From: a@b.c\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: application/zip\nContent-Transfer-Encoding: base64\n\n" + big + "\n--x--\n")); err != email.ErrAttachmentTooLarge {
		t.Errorf("huge attachment: %v", err)
	}
}

// FuzzParse: no input panics the parser, and what it accepts is storable:
// text or attachments, a Message-ID that fits, attachments within limit.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"From: a@b.c\nSubject: hi\nMessage-ID: <x@y>\n\nhello\n",
		"From: a@b.c\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nt\n--x\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\n\n%PDF\n--x--\n",
		"From: a@b.c\nContent-Type: multipart/alternative; boundary=\"q\"\n\n--q\nContent-Type: text/html; charset=windows-1252\nContent-Transfer-Encoding: quoted-printable\n\n<p>=E4</p>\n--q--\n",
		"From: =?utf-8?b?w6TDtsO8?= <a@b.c>\nReferences: <1@x> <2@x>\nIn-Reply-To: 1@x\n\n1\n",
		"From: a@b.c\nContent-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/related; boundary=b\n\n--b\nContent-Type: message/rfc822\n\nFrom: c@d\n\ninner\n--b--\n--a--\n",
		"From: a@b.c\nContent-Transfer-Encoding: base64\n\n!!!notbase64\n",
	} {
		f.Add(crlf(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := email.Parse(raw)
		if err != nil {
			return
		}
		if strings.TrimSpace(m.Text) == "" && len(m.Attachments) == 0 {
			t.Fatalf("accepted a mail with no text and no attachments: %q", raw)
		}
		if m.MessageID == "" || len(m.MessageID) > 500 || !utf8.ValidString(m.Text) || strings.ContainsRune(m.Text, 0) || len(m.Text) > 200000 {
			t.Fatalf("unstorable: id %q, text valid %v", m.MessageID, utf8.ValidString(m.Text))
		}
		for _, a := range m.Attachments {
			if len(a.Data) > conversation.MaxAttachment || a.Filename == "" || len(a.Filename) > 255 {
				t.Fatalf("attachment %q %d bytes", a.Filename, len(a.Data))
			}
		}
	})
}
