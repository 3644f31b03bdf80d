package fax_test

import (
	"bytes"
	"mime/multipart"
	"testing"

	"github.com/cic-platform/cic/channels/fax"
	"github.com/cic-platform/cic/infra/testenv"
)

func form(t testing.TB, fields map[string]string, doc []byte) ([]byte, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	if doc != nil {
		fw, _ := w.CreateFormFile("document", "f.pdf")
		_, _ = fw.Write(doc)
	}
	_ = w.Close()
	return b.Bytes(), w.FormDataContentType()
}

func TestParse(t *testing.T) {
	ok := map[string]string{"id": "F1", "from": "+49 30 1234567", "to": "+4940222229", "pages": "2"}
	body, ct := form(t, ok, []byte("%PDF-1.7 ..."))
	f, err := fax.Parse(ct, body)
	if err != nil || f.ID != "F1" || f.From != "+49301234567" || f.Pages != 2 || !bytes.HasPrefix(f.Document, []byte("%PDF-")) {
		t.Fatalf("Parse = %+v, %v", f, err)
	}
	body, ct = form(t, ok, []byte("<html>"))
	if _, err := fax.Parse(ct, body); testenv.Code(err) != "invalid_document" {
		t.Fatalf("html document: %v", err)
	}
	if _, err := fax.Parse("application/pdf", []byte("%PDF-")); testenv.Code(err) != "unsupported_media_type" {
		t.Fatalf("bare pdf: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	body, ct := form(f, map[string]string{"id": "F1", "from": "+4930123456", "to": "+4940222229"}, []byte("%PDF-1.7"))
	f.Add(ct, body)
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\n\r\n--x--"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		fx, err := fax.Parse(contentType, body)
		if err != nil {
			if testenv.Code(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		if fx.ID == "" || !bytes.HasPrefix(fx.Document, []byte("%PDF-")) || len(fx.Document) > fax.MaxDocument {
			t.Fatalf("accepted %+v", fx)
		}
	})
}
