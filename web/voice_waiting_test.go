package web_test

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/channels/conversation"
)

// The Recording resource of the provider's API description
// (testdata/twilio/recording.json, an excerpt of
// /work/shared/specs/twilio/twilio_api_v2010.json made with:
//
//	python3 -c 'import json; d=json.load(open("twilio_api_v2010.json")); s=d["components"]["schemas"];
//	  k=["api.v2010.account.recording","recording_enum_status","recording_enum_source","call_recording_enum_status"];
//	  json.dump({"info":d["info"],"openapi":d["openapi"],"paths":{p:{} for p in d["paths"] if "/Recordings/" in p and p.endswith("{Sid}.json")},
//	  "components":{"schemas":{x:s[x] for x in k}}}, open("recording.json","w"), indent=1)'
//
// ): the sid's pattern, the recording statuses and the resource's path,
// which the recording URL of a callback names.
type recordingSpec struct {
	sid      *regexp.Regexp
	statuses []string
	paths    []string
}

func loadRecordingSpec(t *testing.T) recordingSpec {
	t.Helper()
	raw, err := os.ReadFile("testdata/twilio/recording.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Enum       []string `json:"enum"`
				Properties map[string]struct {
					Pattern string `json:"pattern"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	rec := doc.Components.Schemas["api.v2010.account.recording"]
	spec := recordingSpec{sid: regexp.MustCompile(rec.Properties["sid"].Pattern), statuses: doc.Components.Schemas["call_recording_enum_status"].Enum}
	for p := range doc.Paths {
		spec.paths = append(spec.paths, p)
	}
	if rec.Properties["sid"].Pattern == "" || len(spec.statuses) == 0 || !slices.Contains(spec.paths, "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json") {
		t.Fatalf("the API description lacks the Recording resource: %+v", spec)
	}
	return spec
}

// recordingURL is where the provider keeps a recording: the Recording
// resource's path without its .json, as the RecordingUrl of a callback.
func recordingURL(spec recordingSpec, account, sid string) string {
	p := "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json"
	if !slices.Contains(spec.paths, p) {
		panic("no recording path")
	}
	p = strings.NewReplacer("{AccountSid}", account, "{Sid}", sid).Replace(strings.TrimSuffix(p, ".json"))
	return "https://api.twilio.com" + p
}

// vmTwiML is an answer with a <Record>.
type vmTwiML struct {
	XMLName xml.Name `xml:"Response"`
	Says    []string `xml:"Say"`
	Record  *struct {
		Attrs []xml.Attr `xml:",any,attr"`
	} `xml:"Record"`
	Redirect string    `xml:"Redirect"`
	Hangup   *struct{} `xml:"Hangup"`
}

func (x vmTwiML) attr(name string) string {
	if x.Record == nil {
		return ""
	}
	for _, a := range x.Record.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func parseVM(t *testing.T, a answer) vmTwiML {
	t.Helper()
	parseTwiML(t, a) // 200, text/xml, well-formed
	var x vmTwiML
	if err := xml.Unmarshal(a.Body, &x); err != nil {
		t.Fatal(err)
	}
	return x
}

// recordAttrs are the attributes of TwiML's <Record> verb.
var recordAttrs = []string{"action", "method", "timeout", "finishOnKey", "maxLength", "playBeep", "trim", "recordingStatusCallback",
	"recordingStatusCallbackMethod", "recordingStatusCallbackEvent", "storageUrl", "storageUrlMethod", "transcribe", "transcribeCallback"}

// checkRecord fails unless x asks for a voicemail the provider can take.
func checkRecord(t *testing.T, spec recordingSpec, x vmTwiML, step string) {
	t.Helper()
	if x.Record == nil {
		t.Fatalf("no <Record>: %+v", x)
	}
	for _, a := range x.Record.Attrs {
		if !slices.Contains(recordAttrs, a.Name.Local) {
			t.Errorf("<Record> has no attribute %s", a.Name.Local)
		}
	}
	for _, ev := range strings.Fields(x.attr("recordingStatusCallbackEvent")) {
		if !slices.Contains(spec.statuses, ev) {
			t.Errorf("recording status %q is not one of the API's %v", ev, spec.statuses)
		}
	}
	if x.attr("method") != "POST" || x.attr("recordingStatusCallbackMethod") != "POST" || x.attr("maxLength") != "120" ||
		!strings.Contains(x.attr("action"), "/voice/voicemail?") || !strings.Contains(x.attr("recordingStatusCallback"), "/voice/recording?") ||
		!strings.Contains(x.attr("action"), step) {
		t.Errorf("<Record> %+v", x.Record.Attrs)
	}
}

// hexSID is a provider sid: prefix and 32 hex digits.
func hexSID(prefix string, n int) string {
	s := strings.Repeat("0", 32) + itoa(int64(n))
	return prefix + s[len(s)-32:]
}

// busyAgent puts agents[0] on a call, so the next callers wait.
func (vs *voiceServer) busyAgent(t *testing.T, co callCenter) {
	t.Helper()
	q := uuid.MustParse(co.Payments)
	vs.number(t, co, nil, &q)
	c := vs.dial(t, co, hexSID("CA", 900), "+4917600000900")
	id := conversation.ContactID(co.TenantID, "voice", c.sid)
	vs.call(t, "POST", "/api/v1/contacts/"+id.String()+"/accept", co.Agents[0].Token, nil).mustStatus(t, http.StatusOK)
}

// TestVoice_HoldLoopAnnouncesPlaceAndWait: callers waiting for the busy
// agent hear their place in line and the expected wait when queued, and
// again every announce_every_seconds, not on every loop; 0 never.
func TestVoice_HoldLoopAnnouncesPlaceAndWait(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 1)
	vs.call(t, "PATCH", "/api/v1/queues/"+co.Payments, co.Token, map[string]any{"announce_every_seconds": 2}).mustStatus(t, http.StatusOK)
	vs.busyAgent(t, co)

	c1 := vs.dial(t, co, hexSID("CA", 1), "+4917600000001")
	if len(c1.last.Says) != 2 || !strings.Contains(c1.last.Says[0], "Please hold") ||
		c1.last.Says[1] != "You are next in line. The expected wait is about 3 minutes." {
		t.Fatalf("first caller: %+v", c1.last)
	}
	c2 := vs.dial(t, co, hexSID("CA", 2), "+4917600000002")
	if len(c2.last.Says) != 2 || c2.last.Says[1] != "You are number 2 in line. The expected wait is about 6 minutes." {
		t.Fatalf("second caller: %+v", c2.last)
	}
	// The next loop, at once: no announcement.
	if x := c2.silence(t); len(x.Says) != 1 || !strings.Contains(x.Says[0], "holding") || !strings.Contains(x.Redirect, "said=") {
		t.Fatalf("loop before announce_every_seconds: %+v", x)
	}
	time.Sleep(2100 * time.Millisecond)
	if x := c2.silence(t); len(x.Says) != 2 || !strings.HasPrefix(x.Says[1], "You are number 2 in line.") {
		t.Fatalf("loop after announce_every_seconds: %+v", x)
	}
	// The first caller hangs up: the second moves up.
	c1.status(t, "completed").mustStatus(t, http.StatusOK)
	time.Sleep(2100 * time.Millisecond)
	if x := c2.silence(t); len(x.Says) != 2 || !strings.HasPrefix(x.Says[1], "You are next in line.") {
		t.Fatalf("after the line moved: %+v", x)
	}
	vs.call(t, "PATCH", "/api/v1/queues/"+co.Payments, co.Token, map[string]any{"announce_every_seconds": 0}).mustStatus(t, http.StatusOK)
	time.Sleep(2100 * time.Millisecond)
	if x := c2.silence(t); len(x.Says) != 1 {
		t.Fatalf("announce_every_seconds 0 still announces: %+v", x)
	}
	// A loop URL signed with another secret is refused.
	if a := vs.hook(t, co.TenantID, c2.last.Redirect, c2.form(nil), "not-the-secret"); a.Status != http.StatusForbidden {
		t.Fatalf("forged loop: %d %s", a.Status, a.Body)
	}
}

// TestVoice_ClosedQueueTakesAVoicemail: outside business hours the
// caller hears the closed message and leaves a voicemail (a <Record>
// the provider's API can take); the recording becomes a contact queued
// on the queue with the audio's URL on its timeline, once however often
// it is delivered, and a hang-up does not abandon it. Unsigned, forged
// and other tenants' deliveries change nothing.
func TestVoice_ClosedQueueTakesAVoicemail(t *testing.T) {
	spec := loadRecordingSpec(t)
	vs := newVoiceServer(t)
	// No agent: the voicemail waits (an available agent would be offered
	// it at once, as any contact queued after hours).
	co := vs.callCenter(t, "acme", 0)
	other := vs.callCenter(t, "globex", 1)
	day := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}[(time.Now().UTC().Weekday()+2)%7]
	vs.call(t, "PATCH", "/api/v1/queues/"+co.Payments, co.Token, map[string]any{
		"business_hours": map[string]any{"timezone": "UTC", "days": map[string]any{day: []string{"08:00", "18:00"}}},
		"closed_message": "We are closed & back on Monday.",
	}).mustStatus(t, http.StatusOK)
	q := uuid.MustParse(co.Payments)
	vs.number(t, co, nil, &q)

	sid := hexSID("CA", 77)
	c := vs.dial(t, co, sid, "+4917600000077")
	x := parseVM(t, vs.hook(t, co.TenantID, "", c.form(nil), co.Secret))
	if len(x.Says) != 2 || x.Says[0] != "We are closed & back on Monday." || !strings.Contains(x.Says[1], "after the tone") || x.Hangup != nil {
		t.Fatalf("closed queue: %+v", x)
	}
	checkRecord(t, spec, x, "queue="+co.Payments)
	id := conversation.ContactID(co.TenantID, "voice", sid)
	if n := vs.count(t, co.TenantID, `SELECT count(*) FROM contacts WHERE id = $1`, id); n != 0 {
		t.Fatalf("a contact before the recording")
	}

	recSID := hexSID("RE", 4242)
	if !spec.sid.MatchString(recSID) {
		t.Fatalf("test sid %s does not match the API's %s", recSID, spec.sid)
	}
	audio := recordingURL(spec, "ACacme", recSID)
	rec := c.form(map[string]string{"RecordingUrl": audio, "RecordingSid": recSID, "RecordingDuration": "14", "Digits": "#"})
	// Bad deliveries first: nothing is recorded.
	for _, secret := range []string{"", other.Secret} {
		if a := vs.hook(t, co.TenantID, x.attr("action"), rec, secret); a.Status != http.StatusForbidden {
			t.Fatalf("recording signed with %q: %d %s", secret, a.Status, a.Body)
		}
	}
	vs.hook(t, other.TenantID, strings.Replace(x.attr("action"), co.TenantID.String(), other.TenantID.String(), 1), rec, other.Secret).mustStatus(t, http.StatusOK)
	badSID := c.form(map[string]string{"RecordingUrl": audio, "RecordingSid": "RE-not-a-sid", "RecordingDuration": "3"})
	if y := parseVM(t, vs.hook(t, co.TenantID, x.attr("action"), badSID, co.Secret)); y.Hangup == nil {
		t.Fatalf("a recording with a bad sid: %+v", y)
	}
	badURL := c.form(map[string]string{"RecordingUrl": "javascript:alert(1)", "RecordingSid": recSID, "RecordingDuration": "3"})
	parseVM(t, vs.hook(t, co.TenantID, x.attr("action"), badURL, co.Secret))
	if n := vs.count(t, co.TenantID, `SELECT count(*) FROM contacts`); n != 0 {
		t.Fatalf("%d contacts from bad deliveries", n)
	}
	if n := vs.count(t, other.TenantID, `SELECT count(*) FROM contacts`); n != 0 {
		t.Fatalf("the other tenant got %d contacts", n)
	}

	// The caller finished: thanks and goodbye; the contact waits.
	y := parseVM(t, vs.hook(t, co.TenantID, x.attr("action"), rec, co.Secret))
	if y.Hangup == nil || len(y.Says) != 1 || !strings.Contains(y.Says[0], "Thank you for your message") {
		t.Fatalf("after the recording: %+v", y)
	}
	c.status(t, "completed").mustStatus(t, http.StatusOK)
	// The status callback delivers the same recording again.
	st := c.form(map[string]string{"RecordingUrl": audio, "RecordingSid": recSID, "RecordingDuration": "14", "RecordingStatus": "completed"})
	if a := vs.hook(t, co.TenantID, x.attr("recordingStatusCallback"), st, co.Secret); a.Status != http.StatusOK || strings.Contains(string(a.Body), "<Say>") {
		t.Fatalf("recording callback: %d %s", a.Status, a.Body)
	}
	d := vs.call(t, "GET", "/api/v1/contacts/"+id.String(), co.Token, nil).mustStatus(t, http.StatusOK)
	if d.str("state") != "queued" || d.str("queue_id") != co.Payments || d.str("channel") != "voice" || d.JSON["queue_position"] != float64(1) {
		t.Fatalf("voicemail contact: %s", d.Body)
	}
	var found int
	for _, e := range d.JSON["events"].([]any) {
		ev := e.(map[string]any)
		if ev["kind"] == "voicemail" {
			found++
			det := ev["details"].(map[string]any)
			if det["recording_url"] != audio || det["recording_sid"] != recSID || det["duration_seconds"] != float64(14) {
				t.Errorf("voicemail event: %v", det)
			}
			u, _ := url.Parse(det["recording_url"].(string))
			if !strings.HasPrefix(u.Path, "/2010-04-01/Accounts/ACacme/Recordings/") {
				t.Errorf("recording URL %s", u)
			}
		}
		if ev["kind"] == "abandoned" {
			t.Errorf("the voicemail was abandoned when the caller hung up")
		}
	}
	if found != 1 {
		t.Fatalf("%d voicemail events, want 1: %s", found, d.Body)
	}
	// Another tenant cannot read it.
	vs.call(t, "GET", "/api/v1/contacts/"+id.String(), other.Token, nil).mustStatus(t, http.StatusNotFound)
	// An absent recording (the caller said nothing) makes nothing.
	c2 := vs.dial(t, co, hexSID("CA", 78), "+4917600000078")
	abs := c2.form(map[string]string{"RecordingStatus": "absent", "RecordingSid": hexSID("RE", 1), "RecordingUrl": audio})
	vs.hook(t, co.TenantID, x.attr("recordingStatusCallback"), abs, co.Secret).mustStatus(t, http.StatusOK)
	if n := vs.count(t, co.TenantID, `SELECT count(*) FROM contacts`); n != 1 {
		t.Fatalf("%d contacts after an absent recording", n)
	}
}

// TestVoice_PastMaxWaitOffersAVoicemail: a caller who waited past the
// queue's maximum wait is offered a voicemail for their own contact,
// which keeps its place when they hang up, with the recording on it.
func TestVoice_PastMaxWaitOffersAVoicemail(t *testing.T) {
	spec := loadRecordingSpec(t)
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 1)
	vs.call(t, "PATCH", "/api/v1/queues/"+co.Payments, co.Token, map[string]any{"max_wait_seconds": 1, "overflow_queue_id": co.Deliveries}).mustStatus(t, http.StatusOK)
	vs.busyAgent(t, co)
	sid := hexSID("CA", 55)
	c := vs.dial(t, co, sid, "+4917600000055")
	if c.last.Redirect == "" {
		t.Fatalf("not waiting: %+v", c.last)
	}
	time.Sleep(1100 * time.Millisecond)
	x := parseVM(t, vs.hook(t, co.TenantID, c.last.Redirect, c.form(nil), co.Secret))
	id := conversation.ContactID(co.TenantID, "voice", sid)
	if len(x.Says) != 2 || !strings.Contains(x.Says[0], "long wait") {
		t.Fatalf("past the max wait: %+v", x)
	}
	checkRecord(t, spec, x, "contact="+id.String())
	// The caller hangs up while recording; the recording arrives after.
	c.status(t, "completed").mustStatus(t, http.StatusOK)
	recSID := hexSID("RE", 55)
	st := c.form(map[string]string{"RecordingUrl": recordingURL(spec, "ACacme", recSID), "RecordingSid": recSID, "RecordingDuration": "9", "RecordingStatus": "completed"})
	vs.hook(t, co.TenantID, x.attr("recordingStatusCallback"), st, co.Secret).mustStatus(t, http.StatusOK)
	d := vs.call(t, "GET", "/api/v1/contacts/"+id.String(), co.Token, nil).mustStatus(t, http.StatusOK)
	ev := vs.events(t, co, id)
	if d.str("state") != "queued" || has(ev, "voicemail") != 1 || has(ev, "abandoned") != 0 {
		t.Fatalf("the caller's contact: %s %v", d.str("state"), ev)
	}
	// A voicemail URL of one call replayed on another leads nowhere.
	other := vs.dial(t, co, hexSID("CA", 56), "+4917600000056")
	st2 := other.form(map[string]string{"RecordingUrl": recordingURL(spec, "ACacme", hexSID("RE", 56)), "RecordingSid": hexSID("RE", 56),
		"RecordingDuration": "9", "RecordingStatus": "completed"})
	vs.hook(t, co.TenantID, x.attr("recordingStatusCallback"), st2, co.Secret).mustStatus(t, http.StatusOK)
	if ev := vs.events(t, co, id); has(ev, "voicemail") != 1 {
		t.Fatalf("another call's recording landed on this contact: %v", ev)
	}
}
