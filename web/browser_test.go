package web_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// newBrowser starts a headless Chromium (CHROMIUM_PATH, which `make test`
// sets after installing Debian's chromium, or one on PATH).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM_PATH")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		t.Skip("no Chromium: run `make test`, which installs it, or set CHROMIUM_PATH")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return bctx
}

type step = chromedp.Action[chromedp.Void]

// run executes browser steps, failing with the step's name and the page.
func run(t *testing.T, ctx context.Context, name string, steps ...step) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("%s: %v\npage: %s", name, err, pageText(ctx))
	}
}

func pageText(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	return s
}

// read returns the visible text (or the value, for inputs) of sel.
func read(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var s string
	var err error
	if strings.Contains(sel, "input") || sel == "#invite-url" {
		s, err = chromedp.Run(sctx, chromedp.Value(chromedp.CSS(sel)))
	} else {
		s, err = chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	}
	if err != nil {
		t.Fatalf("read %s: %v\npage: %s", sel, err, pageText(ctx))
	}
	return strings.TrimSpace(s)
}

func fill(sel, value string) step {
	return chromedp.Steps(chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), value))
}

func click(sel string) step { return chromedp.Click(chromedp.CSS(sel)) }

func visible(sel string) step { return chromedp.WaitVisible(chromedp.CSS(sel)) }

func choose(sel, value string) step { return chromedp.SetValue(chromedp.CSS(sel), value) }

func TestBrowser_SignUpInviteLogOutLogInAsAgent(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	b := newBrowser(t)

	run(t, b, "sign up",
		chromedp.Navigate(base+"/signup"),
		visible("#signup-form"),
		fill(`input[name=company]`, "Acme Support Ltd"),
		fill(`input[name=slug]`, "acme"),
		fill(`input[name=name]`, "Olive Owner"),
		fill(`input[name=email]`, "owner@acme.example"),
		fill(`input[name=password]`, goodPassword),
		choose(`select[name=currency]`, "GBP"),
		click(`#signup-form button[type=submit]`),
		visible("#contacts-left"),
	)
	contacts, seats, who := read(t, b, "#contacts-left"), read(t, b, "#seat-limit"), read(t, b, "#whoami")
	if contacts != "250" || seats != "2" || !strings.Contains(who, "owner") || !strings.Contains(who, "Acme Support Ltd") {
		t.Fatalf("dashboard: contacts %q seats %q who %q", contacts, seats, who)
	}

	run(t, b, "create department",
		chromedp.Navigate(base+"/departments"),
		fill(`#department-form input[name=name]`, "Support"),
		fill(`#department-form input[name=cost_centre]`, "CC-100"),
		click(`#department-form button[type=submit]`),
		visible("#notice"),
	)
	if d := read(t, b, "#departments input[name=name]"); d != "Support" {
		t.Fatalf("first department is %q, want Support", d)
	}

	invite := func(email, name, role string) string {
		run(t, b, "invite "+role,
			chromedp.Navigate(base+"/users"),
			fill(`#invite-form input[name=email]`, email),
			fill(`#invite-form input[name=name]`, name),
			choose(`#invite-form select[name=role]`, role),
			click(`#invite-form button[type=submit]`),
			visible("#invite-url"),
		)
		link := read(t, b, "#invite-url")
		if !strings.HasPrefix(link, "http://cic.test/invite/") {
			t.Fatalf("invite link %q", link)
		}
		return strings.TrimPrefix(link, "http://cic.test")
	}
	agentLink := invite("agent@acme.example", "Ann Agent", "agent")
	invite("finance@acme.example", "Fay Finance", "finance")

	run(t, b, "users list", chromedp.Navigate(base+"/users"), visible("#users"))
	users := read(t, b, "#users")
	for _, want := range []string{"agent@acme.example", "finance@acme.example", "invited"} {
		if !strings.Contains(users, want) {
			t.Fatalf("users page lacks %q: %s", want, users)
		}
	}

	run(t, b, "log out", click("#logout"), visible("#login-form"))
	run(t, b, "dashboard needs a session", chromedp.Navigate(base+"/dashboard"), visible("#login-form"))

	run(t, b, "accept invitation",
		chromedp.Navigate(base+agentLink),
		visible("#accept-form"),
		fill(`#accept-form input[name=password]`, "river stone 42x"),
		click(`#accept-form button[type=submit]`),
		visible("#contacts-left"),
	)
	if who := read(t, b, "#whoami"); !strings.Contains(who, "agent") {
		t.Fatalf("after accepting: %q", who)
	}
	run(t, b, "log out agent", click("#logout"), visible("#login-form"))

	run(t, b, "wrong password",
		fill(`#login-form input[name=tenant]`, "acme"),
		fill(`#login-form input[name=email]`, "agent@acme.example"),
		fill(`#login-form input[name=password]`, "not the password"),
		click(`#login-form button[type=submit]`),
		visible("#error"),
	)
	if e := read(t, b, "#error"); !strings.Contains(e, "not right") {
		t.Fatalf("login error reads %q", e)
	}

	run(t, b, "log in as agent",
		fill(`#login-form input[name=password]`, "river stone 42x"),
		click(`#login-form button[type=submit]`),
		visible("#contacts-left"),
	)
	who = read(t, b, "#whoami")
	if !strings.Contains(who, "Ann Agent") || !strings.Contains(who, "agent") {
		t.Fatalf("logged in as %q", who)
	}
	if nav := read(t, b, "header nav"); strings.Contains(nav, "Users") || strings.Contains(nav, "Departments") {
		t.Fatalf("an agent's navigation offers admin pages: %q", nav)
	}
}

// personIn opens a browser context of its own on b (separate cookies: a
// different person). The first Do opens the tab with this long-lived
// context, not the short ones run derives, or the tab would close with them.
func personIn(t *testing.T, b context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// loginSteps log email of company slug in through the login form and
// wait for the session, then run then.
func loginSteps(base, slug, email string, then ...step) []step {
	return append([]step{
		chromedp.Navigate(base + "/login"), visible("#login-form"),
		fill(`#login-form input[name=tenant]`, slug), fill(`#login-form input[name=email]`, email),
		fill(`#login-form input[name=password]`, goodPassword), click(`#login-form button[type=submit]`), visible("#whoami"),
	}, then...)
}
