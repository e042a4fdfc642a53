package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/twofoldauth/twofold/models/modelstest"
	"github.com/twofoldauth/twofold/plugins/totp/totpfactor"
	"github.com/twofoldauth/twofold/server"
)

// chromiumPath finds Debian's Chromium. CI installs it and sets
// TWOFOLD_TEST_REQUIRE_BROWSER=1, so there the test cannot be skipped.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("TWOFOLD_TEST_REQUIRE_BROWSER") == "1" {
		t.Fatal("chromium not found and TWOFOLD_TEST_REQUIRE_BROWSER=1")
	}
	t.Skip("chromium not installed: browser test skipped (apt-get install chromium)")
	return ""
}

// demoEnv is an env whose server is reached at http://localhost:<port>:
// WebAuthn needs a secure context (http://localhost is one) and the RP id
// localhost must match the page's host. Mails go to the env's SMTP sink
// and their links point at the same server.
func demoEnv(t *testing.T) (*env, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	e := &env{t: t, cfg: testConfig(modelstest.NewURL(t, "sqlite")), clock: &clock{now: time.Now().UTC()}}
	e.cfg.AllowedOrigins = []string{origin, appOrigin}
	e.cfg.PluginSettings["passkey"] = map[string]string{"rp_id": "localhost", "origins": origin}
	e.cfg.MFA.PublicURL = origin
	e.cfg.MFA.LinkRequestFloor = 5 * time.Millisecond
	e.sink = mailSink(t, &e.cfg)
	// The server runs on real time, like the TOTP plugin and the browser.
	s, err := server.New(context.Background(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(s.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() { hs.Close(); s.Close() })
	e.srv = hs
	return e, origin
}

// tab is one browser tab on the demo page.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// newBrowser starts headless Chromium and opens url in its first tab.
func newBrowser(t *testing.T, url string) *tab {
	chromium := chromiumPath(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()))...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first Do on a context starts the browser, for the context's
	// lifetime: not under step's timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &tab{t: t, ctx: ctx}
	b.step("open "+url, chromedp.Navigate(url))
	return b
}

// open opens url in a new tab of the same browser (same cookies), as a
// link clicked in a mail does.
func (b *tab) open(url string) *tab {
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		b.t.Fatalf("new tab: %v", err)
	}
	n := &tab{t: b.t, ctx: ctx}
	n.step("open "+url, chromedp.Navigate(url))
	return n
}

// step runs actions, failing with the page's status line if they do not
// complete within a minute.
func (b *tab) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	c, done := context.WithTimeout(b.ctx, 60*time.Second)
	defer done()
	if err := chromedp.Do(c, actions...); err != nil {
		status, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID("status")))
		b.t.Fatalf("%s: %v (page status: %q)", what, err, status)
	}
}

// eval returns a JavaScript expression's value.
func (b *tab) eval(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// statusIs waits for the page's status line: the page sets it last, once
// it has settled.
func statusIs(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.getElementById("status").textContent === %q`, text))
}

// authenticator gives the tab a DevTools virtual authenticator (a platform
// passkey provider that approves every request).
func (b *tab) authenticator() {
	b.t.Helper()
	b.step("virtual authenticator", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
		return err
	}))
}

// logIn fills the login form and clicks Log in.
func logIn(user, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.SetValue(chromedp.ID("username"), user), chromedp.SetValue(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("login-btn")))
}

// recoveryCodes is the recovery codes the page shows ("" lines dropped),
// or nil when it shows none.
func (b *tab) recoveryCodes() []string {
	b.t.Helper()
	text := b.eval(`(() => { const r = document.getElementById("recovery"); return r.classList.contains("hidden") ? "" : r.textContent; })()`)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) < 2 {
		return nil
	}
	return lines[1:]
}

// TestDemoPageInChromium drives /demo in headless Chromium with the DevTools
// virtual authenticator: password login, passkey and TOTP enrolment, a
// passkey second factor, and passwordless sign-in.
func TestDemoPageInChromium(t *testing.T) {
	_, origin := demoEnv(t)
	b := newBrowser(t, origin+"/demo")
	b.authenticator()
	b.step("password login",
		chromedp.SetValue(chromedp.ID("password"), adminPassword), chromedp.Click(chromedp.ID("login-btn")), statusIs("Signed in as admin"))
	b.step("enrol a passkey", chromedp.Click(chromedp.ID("enrol-passkey-btn")), statusIs("Passkey enrolled"))
	b.step("show the TOTP QR code", chromedp.Click(chromedp.ID("enrol-totp-btn")), statusIs("Scan the QR code, then type the first code"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#qr img") && document.getElementById("secret").textContent.length === 32`))
	secret := b.eval(`document.getElementById("secret").textContent`)
	b.step("enrol the authenticator app",
		chromedp.SetValue(chromedp.ID("totp-code"), totpfactor.Code(secret, time.Now())), chromedp.Click(chromedp.ID("totp-confirm-btn")), statusIs("Authenticator app enrolled"))
	b.step("log out", chromedp.Click(chromedp.ID("logout-btn")), statusIs("Signed out"))
	b.step("password, then the passkey as second factor",
		chromedp.Click(chromedp.ID("login-btn")), statusIs("Second factor required"),
		chromedp.Click(chromedp.CSS("#factor-list button")), statusIs("Signed in as admin"))
	b.step("log out again", chromedp.Click(chromedp.ID("logout-btn")), statusIs("Signed out"))
	b.step("passwordless sign-in with the passkey", chromedp.Click(chromedp.ID("passkey-login-btn")), statusIs("Signed in as admin"))
}

// TestDemoSelfServiceInChromium drives the self-service flows of /demo in
// Chromium, reading the links from the mails the SMTP sink received:
// (a) a user whom policy requires a factor enrols one on the login ticket,
// trusting the browser, sees the recovery codes once, and is not asked for
// a code at the next login; (b) "lost your device?": the mailed link and
// the password remove the factors and the user enrols a passkey at once;
// (c) "forgot password?": the mailed link sets a new password, and the
// login with it still asks for the second factor.
func TestDemoSelfServiceInChromium(t *testing.T) {
	e, origin := demoEnv(t)
	admin := e.admin()
	newUser := func(name string) (id, pass string) {
		pass = name + "-password-1"
		id = e.createUser(admin, map[string]any{"username": name, "email": name + "@example.com", "password": pass})
		return id, pass
	}
	required := func(id string) {
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userId": id}, "mode": "REQUIRED"})
	}
	annID, annPass := newUser("ann")
	required(annID)
	// Bob enrolled an authenticator app before his policy required one.
	bobID, bobPass := newUser("bob")
	enrolTOTP(t, e.loginAs("bob", bobPass), nil)
	required(bobID)

	b := newBrowser(t, origin+"/demo")
	// Each flow starts where the one before left the browser and the
	// users: after a failure the next ones would only time out.
	var app *totpApp
	if !t.Run("enrolment required, trusting the browser", func(t *testing.T) {
		b.t = t
		b.step("login answers ENROLLMENT_REQUIRED", logIn("ann", annPass), statusIs("Set up a second factor: your organization requires one"),
			chromedp.Poll[chromedp.Void](`!document.getElementById("enrol-trust-label").classList.contains("hidden")`))
		b.step("choose the authenticator app", chromedp.Click(chromedp.CSS(`#enrol-types button[data-type="totp"]`)),
			statusIs("Scan the QR code, then type the first code"),
			chromedp.Poll[chromedp.Void](`document.querySelector("#qr img") && document.getElementById("secret").textContent.length === 32`))
		if uri := b.eval(`document.getElementById("otpauth").href`); !strings.HasPrefix(uri, "otpauth://totp/") {
			t.Errorf("otpauth link: %q", uri)
		}
		app = newTOTPApp(t, b.eval(`document.getElementById("secret").textContent`))
		b.step("confirm the first code, trusting this browser", chromedp.Click(chromedp.ID("enrol-trust")),
			chromedp.SetValue(chromedp.ID("totp-code"), app.next()), chromedp.Click(chromedp.ID("totp-confirm-btn")), statusIs("Signed in as ann"))
		codes := b.recoveryCodes()
		if len(codes) != 10 {
			t.Fatalf("recovery codes shown after the first enrolment: %q", codes)
		}
		if got := mfaState(t, admin, annID); got != "enrolled=true factors=1 codes=10 browsers=1" {
			t.Fatalf("after enrolling on the ticket: %s", got)
		}
		b.step("log out", chromedp.Click(chromedp.ID("logout-btn")), statusIs("Signed out"))
		b.step("the trusted browser is not asked for a code", logIn("ann", annPass), statusIs("Signed in as ann"))
		if codes := b.recoveryCodes(); codes != nil {
			t.Errorf("recovery codes shown again: %q", codes)
		}
		b.step("log out again", chromedp.Click(chromedp.ID("logout-btn")), statusIs("Signed out"))
	}) {
		return
	}

	if !t.Run("lost device", func(t *testing.T) {
		b.t = t
		b.step("ask for a lost-device link", chromedp.SetValue(chromedp.ID("username"), "bob"),
			chromedp.Click(chromedp.ID("lost-link")), statusIs("Lost your device? We email you a link"),
			chromedp.Poll[chromedp.Void](`document.getElementById("lost-user").value === "bob"`),
			chromedp.Click(chromedp.ID("lost-btn")), statusIs("If the account exists, a link was emailed to it"))
		link := e.mailed("bob@example.com", subjRecoveryLink, 1)[0].Link()
		if !strings.HasPrefix(link, origin+"/demo#recover=") {
			t.Fatalf("mailed link %q", link)
		}
		if got := mfaState(t, admin, bobID); got != "enrolled=true factors=1 codes=10 browsers=0" {
			t.Fatalf("the request alone changed the factors: %s", got)
		}
		l := b.open(link)
		l.authenticator()
		l.step("the link's page asks for the password", statusIs("Lost device: enter your password to remove your factors"),
			chromedp.Poll[chromedp.Void](`location.hash === ""`))
		l.step("the password removes the factors; policy asks for a new one",
			chromedp.SetValue(chromedp.ID("recover-password"), bobPass), chromedp.Click(chromedp.ID("recover-btn")),
			statusIs("Your factors were removed. Set up a second factor: your organization requires one"))
		if got := mfaState(t, admin, bobID); got != "enrolled=false factors=0 codes=0 browsers=0" {
			t.Fatalf("after the recovery: %s", got)
		}
		l.step("enrol a passkey on the ticket", chromedp.Click(chromedp.CSS(`#enrol-types button[data-type="passkey"]`)), statusIs("Signed in as bob"))
		if codes := l.recoveryCodes(); len(codes) != 10 {
			t.Errorf("new recovery codes: %q", codes)
		}
		d := admin.must(`query($id: ID!) { userEnrollments(userId: $id) { edges { node { factorType } } } }`, map[string]any{"id": bobID})
		if edges := dig(d, "userEnrollments", "edges").([]any); len(edges) != 1 || dig(edges[0], "node", "factorType") != "passkey" {
			t.Errorf("bob's factors after enrolling again: %v", edges)
		}
		again := b.open(link)
		again.step("the link is used up", statusIs("Lost device: enter your password to remove your factors"),
			chromedp.SetValue(chromedp.ID("recover-password"), bobPass), chromedp.Click(chromedp.ID("recover-btn")),
			statusIs("Recovery failed: this link is invalid, expired or already used; request a new one (UNAUTHENTICATED)"))
	}) {
		return
	}

	t.Run("forgotten password", func(t *testing.T) {
		b.t = t
		b.step("back to the login form", chromedp.Click(chromedp.CSS("#lost .back-btn")), statusIs("Signed out"))
		b.step("ask for a reset link", chromedp.SetValue(chromedp.ID("username"), "ann"),
			chromedp.Click(chromedp.ID("forgot-link")), statusIs("Forgot your password? We email you a link"),
			chromedp.Click(chromedp.ID("forgot-btn")), statusIs("If the account exists, a password-reset link was emailed to it"))
		link := e.mailed("ann@example.com", subjResetLink, 1)[0].Link()
		if !strings.HasPrefix(link, origin+"/demo#reset=") {
			t.Fatalf("mailed link %q", link)
		}
		newPass := annPass + "-new"
		l := b.open(link)
		l.step("set a new password", statusIs("Choose a new password"),
			chromedp.SetValue(chromedp.ID("new-password"), newPass), chromedp.Click(chromedp.ID("reset-btn")),
			statusIs("Password changed: log in with the new one"))
		if p, r := e.client().login("demo", "ann", annPass); p != nil || r.code() == "" {
			t.Fatalf("the old password still works: %+v", p)
		}
		// The reset revoked the trusted browser: the second factor is asked.
		l.step("log in with the new password", logIn("ann", newPass), statusIs("Second factor required"))
		l.step("the authenticator app's code", chromedp.SetValue(chromedp.ID("code"), app.next()),
			chromedp.Click(chromedp.CSS("#factor-list button")), statusIs("Signed in as ann"))
	})
}
