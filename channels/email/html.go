package email

import (
	"strings"

	"golang.org/x/net/html"
)

// HTMLText turns an HTML body into readable text: block elements start
// new lines, links keep their target, scripts and styles are dropped.
func HTMLText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0
	href := ""
	newline := func() {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteByte('\n')
		}
	}
	for {
		switch z.Next() {
		case html.ErrorToken:
			return tidy(b.String())
		case html.TextToken:
			if skip == 0 {
				b.WriteString(strings.Join(strings.Fields(string(z.Text())), " "))
				if t := z.Raw(); len(t) > 0 && (t[len(t)-1] == ' ' || t[len(t)-1] == '\n') {
					b.WriteByte(' ')
				}
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch string(name) {
			case "script", "style", "head", "title":
				skip++
			case "br":
				b.WriteByte('\n')
			case "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "pre":
				newline()
				if string(name) == "li" {
					b.WriteString("- ")
				}
			case "a":
				href = ""
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "href" && (strings.HasPrefix(string(v), "http") || strings.HasPrefix(string(v), "mailto:")) {
						href = string(v)
					}
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "head", "title":
				if skip > 0 {
					skip--
				}
			case "a":
				// The link's target is part of what the customer sent.
				if href != "" && !strings.Contains(b.String()[max(0, b.Len()-len(href)-2):], href) {
					b.WriteString(" (" + href + ")")
				}
				href = ""
			case "p", "div", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "pre":
				newline()
			}
		}
	}
}

// tidy trims each line and keeps at most one empty line in a row.
func tidy(s string) string {
	var out []string
	empty := 0
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			if empty++; empty > 1 {
				continue
			}
		} else {
			empty = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
