package web_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The provider's published OpenAPI description (twilio-oai, MIT): the
// stub's requests are checked against it, so that what our client sends
// is what the real API takes. The full file when this machine has it,
// else the extract of the call operations kept in testdata.
var twilioSpecFiles = []string{"/work/shared/specs/twilio/twilio_api_v2010.json", "testdata/twilio/calls_api_v2010.json"}

type oaSchema struct {
	Ref        string               `json:"$ref"`
	Type       string               `json:"type"`
	Format     string               `json:"format"`
	Enum       []string             `json:"enum"`
	Pattern    string               `json:"pattern"`
	MinLength  *int                 `json:"minLength"`
	MaxLength  *int                 `json:"maxLength"`
	Items      *oaSchema            `json:"items"`
	Properties map[string]*oaSchema `json:"properties"`
	Required   []string             `json:"required"`
}

type oaOperation struct {
	Parameters []struct {
		Name   string   `json:"name"`
		In     string   `json:"in"`
		Schema oaSchema `json:"schema"`
	} `json:"parameters"`
	RequestBody struct {
		Content map[string]struct {
			Schema oaSchema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
}

type oaSpec struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]*oaSchema `json:"schemas"`
	} `json:"components"`
}

var (
	twilioSpecOnce sync.Once
	twilioSpecDoc  *oaSpec
	twilioSpecErr  error
)

func twilioSpec(t testing.TB) *oaSpec {
	t.Helper()
	twilioSpecOnce.Do(func() {
		var raw []byte
		for _, f := range twilioSpecFiles {
			if raw, twilioSpecErr = os.ReadFile(f); twilioSpecErr == nil {
				break
			}
		}
		if twilioSpecErr != nil {
			return
		}
		twilioSpecDoc = &oaSpec{}
		twilioSpecErr = json.Unmarshal(raw, twilioSpecDoc)
	})
	if twilioSpecErr != nil {
		t.Fatalf("the provider's API description: %v", twilioSpecErr)
	}
	return twilioSpecDoc
}

func (s *oaSpec) resolve(sc *oaSchema) *oaSchema {
	for sc != nil && sc.Ref != "" {
		sc = s.Components.Schemas[strings.TrimPrefix(sc.Ref, "#/components/schemas/")]
	}
	return sc
}

// checkValue checks one form value against its schema.
func (s *oaSpec) checkValue(name, v string, sc *oaSchema) error {
	sc = s.resolve(sc)
	if sc == nil {
		return fmt.Errorf("%s: unresolvable schema", name)
	}
	switch sc.Type {
	case "integer":
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Errorf("%s=%q is not an integer", name, v)
		}
	case "boolean":
		if v != "true" && v != "false" {
			return fmt.Errorf("%s=%q is not a boolean", name, v)
		}
	case "string", "":
		if len(sc.Enum) > 0 && !slices.Contains(sc.Enum, v) {
			return fmt.Errorf("%s=%q is not one of %v", name, v, sc.Enum)
		}
		if sc.Format == "uri" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("%s=%q is not an absolute URL", name, v)
			}
		}
		if sc.Format == "http-method" && v != "GET" && v != "POST" {
			return fmt.Errorf("%s=%q is not an HTTP method", name, v)
		}
		if sc.Pattern != "" && !regexp.MustCompile(sc.Pattern).MatchString(v) {
			return fmt.Errorf("%s=%q does not match %s", name, v, sc.Pattern)
		}
		if sc.MinLength != nil && len(v) < *sc.MinLength || sc.MaxLength != nil && len(v) > *sc.MaxLength {
			return fmt.Errorf("%s=%q has the wrong length", name, v)
		}
	}
	return nil
}

// checkTwilioRequest fails unless req is a POST the provider's API
// describes: a known path (its parameters matching their patterns), every
// form field a property of the operation's body, the required ones
// present, each value of its type, enum, format and pattern, and only
// arrays repeated.
func checkTwilioRequest(t testing.TB, req telRequest) {
	t.Helper()
	if err := twilioRequestError(twilioSpec(t), req); err != nil {
		t.Fatalf("the provider's API does not take %s %v: %v", req.Path, req.Form, err)
	}
}

func twilioRequestError(spec *oaSpec, req telRequest) error {
	var op *oaOperation
	for tmpl, ops := range spec.Paths {
		raw, ok := ops["post"]
		if !ok {
			continue
		}
		names := []string{}
		// The template quoted, its {Parameters} (quoted braces) matched.
		re := regexp.MustCompile(`\\\{([A-Za-z]+)\\\}`).ReplaceAllStringFunc(regexp.QuoteMeta(tmpl), func(p string) string {
			names = append(names, p[2:len(p)-2])
			return `([^/]+)`
		})
		m := regexp.MustCompile("^" + re + "$").FindStringSubmatch(req.Path)
		if m == nil {
			continue
		}
		o := &oaOperation{}
		if err := json.Unmarshal(raw, o); err != nil {
			return fmt.Errorf("the description of POST %s: %w", tmpl, err)
		}
		for i, n := range names {
			for _, prm := range o.Parameters {
				if prm.In == "path" && prm.Name == n {
					if err := spec.checkValue(n, m[i+1], &prm.Schema); err != nil {
						return fmt.Errorf("path: %w", err)
					}
				}
			}
		}
		op = o
		break
	}
	if op == nil {
		return fmt.Errorf("no such operation")
	}
	body, ok := op.RequestBody.Content["application/x-www-form-urlencoded"]
	if !ok {
		return fmt.Errorf("the operation takes no form")
	}
	sc := spec.resolve(&body.Schema)
	for _, r := range sc.Required {
		if req.Form.Get(r) == "" {
			return fmt.Errorf("required %s missing", r)
		}
	}
	for k, vs := range req.Form {
		prop, ok := sc.Properties[k]
		if !ok {
			return fmt.Errorf("unknown field %s", k)
		}
		prop = spec.resolve(prop)
		if prop.Type == "array" {
			for _, v := range vs {
				if err := spec.checkValue(k, v, prop.Items); err != nil {
					return err
				}
			}
			continue
		}
		if len(vs) != 1 {
			return fmt.Errorf("%s repeated, but it is no array", k)
		}
		if err := spec.checkValue(k, vs[0], prop); err != nil {
			return err
		}
	}
	return nil
}

// TestTwilioSpec_CheckerRefusesWhatTheAPIDoesNotTake: the checker the
// voice tests rely on is not a rubber stamp.
func TestTwilioSpec_CheckerRefusesWhatTheAPIDoesNotTake(t *testing.T) {
	spec := twilioSpec(t)
	acct := "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef"
	good := telRequest{Path: acct + "/Calls.json", Form: url.Values{"From": {"+4930123456"}, "To": {"+4917612345678"},
		"Url": {"https://cic.test/x"}, "StatusCallback": {"https://cic.test/s"}, "StatusCallbackEvent": {"initiated", "completed"}}}
	if err := twilioRequestError(spec, good); err != nil {
		t.Fatalf("a valid create call: %v", err)
	}
	bad := map[string]telRequest{
		"unknown path":      {Path: acct + "/Callz.json", Form: good.Form},
		"bad account sid":   {Path: "/2010-04-01/Accounts/ACacme/Calls.json", Form: good.Form},
		"no To":             {Path: good.Path, Form: url.Values{"From": {"+4930123456"}, "Url": {"https://cic.test/x"}}},
		"unknown field":     {Path: good.Path, Form: url.Values{"From": {"+4930123456"}, "To": {"+49176"}, "Uri": {"https://cic.test/x"}}},
		"relative Url":      {Path: good.Path, Form: url.Values{"From": {"+4930123456"}, "To": {"+49176"}, "Url": {"/x"}}},
		"repeated scalar":   {Path: good.Path, Form: url.Values{"From": {"+4930123456"}, "To": {"+49176", "+49177"}}},
		"bad update status": {Path: acct + "/Calls/CA0123456789abcdef0123456789abcdef.json", Form: url.Values{"Status": {"ended"}}},
		"bad method":        {Path: acct + "/Calls/CA0123456789abcdef0123456789abcdef.json", Form: url.Values{"Method": {"PUT"}}},
	}
	for name, r := range bad {
		if err := twilioRequestError(spec, r); err == nil {
			t.Errorf("%s: accepted %s %v", name, r.Path, r.Form)
		}
	}
}
