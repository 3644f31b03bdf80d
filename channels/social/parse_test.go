package social_test

import (
	"testing"

	"github.com/cic-platform/cic/channels/social"
	"github.com/cic-platform/cic/infra/testenv"
)

func FuzzParseEvent(f *testing.F) {
	f.Add(`{"id":"1","platform":"facebook","page":"p","sender":{"handle":"h","name":"N"},"text":"hi"}`)
	f.Add(`{"id":"1","platform":"x","page":"p","sender":{"handle":"h"},"attachments":[{"data":"aGk="}]}`)
	f.Add(`{"id":"\ud800","platform":"X","page":"p:q"}`)
	f.Fuzz(func(t *testing.T, body string) {
		e, err := social.ParseEvent([]byte(body))
		if err != nil {
			if testenv.Code(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		if e.ID == "" || e.Platform == "" || e.Page == "" || e.Sender.Handle == "" || (e.Text == "" && len(e.Attachments) == 0) {
			t.Fatalf("accepted an incomplete event %+v", e)
		}
	})
}
