package voice

import (
	"bytes"
	"encoding/xml"
	"strconv"
)

// TwiML is a response document under construction; every text and
// attribute is XML-escaped, so a caller's input or an admin's prompt can
// never break the document.
type TwiML struct {
	b bytes.Buffer
}

func (t *TwiML) text(s string) {
	_ = xml.EscapeText(&t.b, []byte(s))
}

func (t *TwiML) attr(name, value string) {
	t.b.WriteString(" " + name + `="`)
	t.text(value)
	t.b.WriteString(`"`)
}

// Say speaks text.
func (t *TwiML) Say(text string) *TwiML {
	t.b.WriteString("<Say>")
	t.text(text)
	t.b.WriteString("</Say>")
	return t
}

// Pause keeps the line quiet for seconds (the hold loop's music stand-in).
func (t *TwiML) Pause(seconds int) *TwiML {
	t.b.WriteString(`<Pause length="` + strconv.Itoa(seconds) + `"/>`)
	return t
}

// Play plays audio from url.
func (t *TwiML) Play(url string) *TwiML {
	t.b.WriteString("<Play>")
	t.text(url)
	t.b.WriteString("</Play>")
	return t
}

// Gather asks for one key while saying prompt; a key press goes to action.
func (t *TwiML) Gather(prompt string, timeout int, action string) *TwiML {
	t.b.WriteString(`<Gather numDigits="1" method="POST"`)
	t.attr("timeout", strconv.Itoa(timeout))
	t.attr("action", action)
	t.b.WriteString(">")
	t.Say(prompt)
	t.b.WriteString("</Gather>")
	return t
}

// Redirect makes the provider fetch the next TwiML from url.
func (t *TwiML) Redirect(url string) *TwiML {
	t.b.WriteString(`<Redirect method="POST">`)
	t.text(url)
	t.b.WriteString("</Redirect>")
	return t
}

// DialClient connects the call to an agent's softphone; when that leg
// ends, the provider asks action what next (the survey).
func (t *TwiML) DialClient(client, action string) *TwiML {
	t.b.WriteString(`<Dial method="POST"`)
	if action != "" {
		t.attr("action", action)
	}
	t.b.WriteString("><Client>")
	t.text(client)
	t.b.WriteString("</Client></Dial>")
	return t
}

// Record records the caller (a voicemail) until they press # or are
// silent for timeout seconds, at most maxLength seconds, after a beep;
// then the provider asks action what next, and tells statusCallback
// when the recording is stored (completed) or there was none (absent).
func (t *TwiML) Record(action, statusCallback string, maxLength, timeout int) *TwiML {
	t.b.WriteString(`<Record method="POST" playBeep="true" finishOnKey="#"`)
	t.attr("action", action)
	t.attr("maxLength", strconv.Itoa(maxLength))
	t.attr("timeout", strconv.Itoa(timeout))
	t.attr("recordingStatusCallback", statusCallback)
	t.b.WriteString(` recordingStatusCallbackMethod="POST" recordingStatusCallbackEvent="completed absent"/>`)
	return t
}

// Hangup ends the call.
func (t *TwiML) Hangup() *TwiML {
	t.b.WriteString("<Hangup/>")
	return t
}

// Bytes is the whole document.
func (t *TwiML) Bytes() []byte {
	return append([]byte(xml.Header+"<Response>"), append(t.b.Bytes(), "</Response>"...)...)
}

// String is the whole document, for logs and tests.
func (t *TwiML) String() string { return string(t.Bytes()) }
