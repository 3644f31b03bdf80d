package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode ISO-8859-x, Windows-125x... bodies and headers
	gomail "github.com/emersion/go-message/mail"

	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
)

// Mail is an inbound message as the channel keeps it.
type Mail struct {
	// MessageID is the Message-ID without angle brackets; when the mail
	// has none, one derived from its bytes (Synthesized), so a redelivery
	// of the same bytes is still recognised.
	MessageID   string
	Synthesized bool
	From        mail.Address
	To, Cc      []string
	Subject     string
	Date        time.Time
	InReplyTo   []string
	References  []string
	// Text is the plain-text body, or the HTML body as text when the
	// mail has no plain-text part (FromHTML).
	Text     string
	FromHTML bool
	// Attachments are the files of the mail, inline images included.
	Attachments []channels.Attachment
	// Automatic is true for mail no human wrote (auto-replies, bounces,
	// lists): it gets no automatic answer from us, so two robots cannot
	// answer each other forever.
	Automatic bool
}

// Parse errors; the SMTP session maps them to reply codes.
var (
	// ErrMalformed: not a message we can read.
	ErrMalformed = errors.New("malformed message")
	// ErrAttachmentTooLarge: an attachment exceeds conversation.MaxAttachment.
	ErrAttachmentTooLarge = errors.New("attachment too large")
	// ErrHeaderBomb: a header section over maxHeaderBytes, or with more
	// than maxEncodedWords RFC 2047 encoded words (each one decoded, and
	// charset-converted, costs time: a header of thousands is an attack,
	// not a mail).
	ErrHeaderBomb = errors.New("header section too large or with too many encoded words")
)

// Limits of what one mail may hold.
const (
	maxParts = 100
	// maxText is the body kept in the conversation (its column's limit);
	// a longer text is kept whole as an attachment too.
	maxText = 200000
	// maxIDLen bounds a stored Message-ID (external_id); longer ones are
	// replaced by their hash.
	maxIDLen = 400
	maxRefs  = 50
	// maxHeaderBytes and maxEncodedWords bound the top header section;
	// the whole mail may hold 4 × maxEncodedWords.
	maxHeaderBytes  = 256 << 10
	maxEncodedWords = 500
)

// checkHeaders refuses a header bomb before any decoding.
func checkHeaders(raw []byte) error {
	head := raw
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		head = raw[:i]
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		head = raw[:i]
	}
	if len(head) > maxHeaderBytes {
		return fmt.Errorf("%w: %d bytes of headers", ErrHeaderBomb, len(head))
	}
	if n := bytes.Count(head, []byte("=?")); n > maxEncodedWords {
		return fmt.Errorf("%w: %d encoded words", ErrHeaderBomb, n)
	}
	if n := bytes.Count(raw, []byte("=?")); n > 4*maxEncodedWords {
		// Over the whole mail too: the parts have headers (file names),
		// and no mail a person wrote has that many "=?" in its body.
		return fmt.Errorf("%w: %d encoded words", ErrHeaderBomb, n)
	}
	return nil
}

// Parse reads a raw RFC 5322 message. It never panics on any input (the
// fuzz test holds it to that) and every mail it returns has text or
// attachments.
func Parse(raw []byte) (*Mail, error) {
	if err := checkHeaders(raw); err != nil {
		return nil, err
	}
	ent, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if ent == nil {
		return nil, ErrMalformed
	}
	mr := gomail.NewReader(ent)
	h := mr.Header
	m := &Mail{}

	from, err := h.AddressList("From")
	if err != nil || len(from) == 0 {
		return nil, fmt.Errorf("%w: no readable From address", ErrMalformed)
	}
	m.From = mail.Address{Name: clean(from[0].Name, 200), Address: clean(from[0].Address, 320)}
	if !strings.Contains(m.From.Address, "@") {
		return nil, fmt.Errorf("%w: From is not an e-mail address", ErrMalformed)
	}
	m.To = addresses(h, "To")
	m.Cc = addresses(h, "Cc")
	if s, err := h.Subject(); err == nil {
		m.Subject = clean(s, 500)
	} else {
		m.Subject = clean(h.Get("Subject"), 500)
	}
	if d, err := h.Date(); err == nil {
		m.Date = d
	}
	if id, err := h.MessageID(); err == nil && id != "" {
		m.MessageID = messageID(id)
	} else {
		sum := sha256.Sum256(raw)
		m.MessageID = hex.EncodeToString(sum[:16]) + "@synthesized.invalid"
		m.Synthesized = true
	}
	m.InReplyTo = idList(h, "In-Reply-To")
	m.References = idList(h, "References")
	m.Automatic = automatic(h.Header)

	var html string
	parts := 0
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if p == nil {
			break
		}
		if parts++; parts > maxParts {
			return nil, fmt.Errorf("%w: more than %d parts", ErrMalformed, maxParts)
		}
		data, err := io.ReadAll(io.LimitReader(p.Body, conversation.MaxAttachment+1))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if len(data) > conversation.MaxAttachment {
			return nil, ErrAttachmentTooLarge
		}
		switch ph := p.Header.(type) {
		case *gomail.InlineHeader:
			ct, _, _ := ph.ContentType()
			switch {
			case (ct == "text/plain" || ct == "") && m.Text == "":
				m.Text = text(data)
			case ct == "text/html" && html == "":
				html = text(data)
			case strings.HasPrefix(ct, "text/") && ct != "text/html":
				// A second text part (a signature, a forwarded note) joins the body.
				m.Text += "\n\n" + text(data)
			case ct == "text/html":
				// further HTML alternatives add nothing
			default:
				m.Attachments = append(m.Attachments, attachment(ph.Header, ct, data, len(m.Attachments)))
			}
		case *gomail.AttachmentHeader:
			ct, _, _ := ph.ContentType()
			m.Attachments = append(m.Attachments, attachment(ph.Header, ct, data, len(m.Attachments)))
		}
	}
	if strings.TrimSpace(m.Text) == "" && html != "" {
		m.Text, m.FromHTML = HTMLText(html), true
	}
	m.Text = strings.TrimRight(m.Text, " \t\r\n")
	if len(m.Text) > maxText {
		m.Attachments = append(m.Attachments, channels.Attachment{Filename: "message.txt", ContentType: "text/plain; charset=utf-8", Data: []byte(m.Text)})
		m.Text = truncate(m.Text, maxText)
	}
	if strings.TrimSpace(m.Text) == "" && len(m.Attachments) == 0 {
		return nil, fmt.Errorf("%w: no text and no attachments", ErrMalformed)
	}
	return m, nil
}

// text makes a decoded part storable: valid UTF-8, no NUL (PostgreSQL
// text refuses it), LF line ends.
func text(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	return strings.ReplaceAll(s, "\r\n", "\n")
}

// clean is text for a header value: one line, at most n bytes.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	return truncate(strings.TrimSpace(s), n)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func addresses(h gomail.Header, key string) []string {
	list, err := h.AddressList(key)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		if len(out) == maxRefs {
			break
		}
		out = append(out, clean(strings.ToLower(a.Address), 320))
	}
	return out
}

// messageID is a Message-ID as stored: no brackets, bounded length.
func messageID(id string) string {
	id = clean(strings.Trim(strings.TrimSpace(id), "<>"), 10000)
	if len(id) > maxIDLen || id == "" {
		sum := sha256.Sum256([]byte(id))
		return hex.EncodeToString(sum[:16]) + "@long-id.invalid"
	}
	return id
}

func idList(h gomail.Header, key string) []string {
	ids, err := h.MsgIDList(key)
	if err != nil {
		// Some mailers write ids without brackets; take the words.
		ids = strings.Fields(strings.NewReplacer("<", " ", ">", " ", ",", " ").Replace(h.Get(key)))
	}
	if len(ids) > maxRefs {
		// The first (the thread's root) and the newest matter.
		ids = append(ids[:1], ids[len(ids)-maxRefs+1:]...)
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id = messageID(id); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// automatic tells mail written by a machine (RFC 3834 Auto-Submitted,
// bulk and list mail, bounces).
func automatic(h message.Header) bool {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && v != "no" {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "bulk", "junk", "list", "auto_reply":
		return true
	}
	return h.Get("List-Id") != "" || h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != ""
}

func attachment(h message.Header, ct string, data []byte, n int) channels.Attachment {
	name := ""
	if _, params, err := h.ContentDisposition(); err == nil {
		name = params["filename"]
	}
	if name == "" {
		if _, params, err := h.ContentType(); err == nil {
			name = params["name"]
		}
	}
	if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
		name = dec
	}
	// A path in a file name is the sender's business, not ours.
	name = clean(path.Base(strings.ReplaceAll(name, "\\", "/")), 255)
	if name == "" || name == "." || name == "/" {
		name = fmt.Sprintf("attachment-%d", n+1)
	}
	if ct == "" || len(ct) > 255 {
		ct = "application/octet-stream"
	}
	return channels.Attachment{Filename: name, ContentType: ct, Data: data}
}
