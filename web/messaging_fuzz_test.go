package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// The webhooks' parsers get signed bodies (so they are reached past the
// signature check) of any shape: never a 5xx.

func FuzzSMSWebhook(f *testing.F) {
	ms := newMsgServer(f)
	a := ms.company(f, "acme", acmeNumber, acmeFax, acmePage)
	f.Add(smsForm("SM1", customerPhone, acmeNumber, "hello").Encode())
	f.Add(smsForm("SM2", customerPhone, acmeNumber, "5").Encode())
	f.Add("MessageSid=SM3&From=%2B4915112345678&To=%2B4930111111&NumMedia=2&MediaUrl0=https%3A%2F%2Fx.test%2Fa&MediaUrl1=ftp%3A%2F%2Fy")
	f.Add("MessageSid=SM4&From=%2B4915112345678&To=%2B4930111111&NumMedia=-1")
	f.Add("MessageSid=%00&From=x&To=y")
	f.Add("a=%zz;b")
	f.Add("MessageSid=SM5&From=%2B4915112345678&To=%2B4930111111&Body=%00%FF%FE&NumMedia=1&MediaUrl0=https%3A%2F%2Fx.test&MediaContentType0=%00%FF")
	f.Add("")
	path := smsPath(a.TenantID)
	f.Fuzz(func(t *testing.T, body string) {
		form, _ := url.ParseQuery(body)
		req := newRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twilioSign(a.TwilioToken, "http://cic.test"+path, form))
		if ans := ms.do(t, req); ans.Status >= 500 {
			t.Fatalf("%q: %d %s", body, ans.Status, ans.Body)
		}
	})
}

func FuzzSocialWebhook(f *testing.F) {
	ms := newMsgServer(f)
	a := ms.company(f, "acme", acmeNumber, acmeFax, acmePage)
	f.Add(string(socialEvent("e1", acmePage, "sam", "hello")))
	f.Add(string(socialEvent("e2", acmePage, "sam", "3")))
	f.Add(`{"id":"e3","platform":"facebook","page":"acmepage","sender":{"handle":"s"},"attachments":[{"filename":"a.txt","data":"aGk="}]}`)
	f.Add(`{"id":"e4","platform":"facebook","page":"acmepage","sender":{"handle":"@"},"text":"x"}`)
	f.Add(`{"id":"\u0000","platform":"","page":"","sender":null,"text":null}`)
	f.Add(`{"attachments":[{"data":"!!"}]}`)
	f.Add(`[1,2`)
	f.Add(`{"id":"e5","platform":"facebook","page":"acmepage","sender":{"handle":"s"},"text":"a\u0000b\ud800"}`)
	f.Fuzz(func(t *testing.T, body string) {
		if ans := ms.postSocial(t, a.TenantID, a.SocialSecret, time.Now(), []byte(body)); ans.Status >= 500 {
			t.Fatalf("%q: %d %s", body, ans.Status, ans.Body)
		}
	})
}

func FuzzFaxWebhook(f *testing.F) {
	ms := newMsgServer(f)
	a := ms.company(f, "acme", acmeNumber, acmeFax, acmePage)
	body, ct := faxBody(f, "F1", customerPhone, acmeFax, "2", faxPDF)
	f.Add(ct, body)
	body, _ = faxBody(f, "F2", customerPhone, acmeFax, "x", []byte("not a pdf"))
	f.Add(ct, body)
	f.Add("multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"document\"\r\n\r\n%PDF-\r\n--b--\r\n"))
	f.Add("multipart/form-data", []byte("--"))
	f.Add("text/plain", []byte("%PDF-1.4"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		if ans := ms.postFax(t, a.TenantID, a.FaxSecret, time.Now(), body, contentType); ans.Status >= 500 {
			t.Fatalf("%q %q: %d %s", contentType, body, ans.Status, ans.Body)
		}
	})
}
