package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
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

// TestDemoPageInChromium drives /demo in headless Chromium with the DevTools
// virtual authenticator: password login, passkey and TOTP enrolment, a
// passkey second factor, and passwordless sign-in.
func TestDemoPageInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// WebAuthn needs a secure context: http://localhost is one, and the RP id
	// localhost must match the page's host.
	origin := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	cfg := testConfig(modelstest.NewURL(t, "sqlite"))
	cfg.AllowedOrigins = []string{origin}
	cfg.PluginSettings["passkey"] = map[string]string{"rp_id": "localhost", "origins": origin}
	s, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := &http.Server{Handler: s.Handler()}
	go hs.Serve(ln)
	defer hs.Close()

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()))...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(origin+"/demo")); err != nil {
		t.Fatalf("open /demo: %v", err)
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, done := context.WithTimeout(ctx, 60*time.Second)
		defer done()
		if err := chromedp.Do(c, actions...); err != nil {
			status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
			t.Fatalf("%s: %v (page status: %q)", what, err, status)
		}
	}
	statusIs := func(text string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.getElementById("status").textContent === %q`, text))
	}
	step("virtual authenticator", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
		return err
	}))
	step("password login",
		chromedp.SetValue(chromedp.ID("password"), adminPassword), chromedp.Click(chromedp.ID("login-btn")), statusIs("Signed in as admin"))
	step("enrol a passkey", chromedp.Click(chromedp.ID("enrol-passkey-btn")), statusIs("Passkey enrolled"))
	step("show the TOTP QR code", chromedp.Click(chromedp.ID("enrol-totp-btn")), statusIs("Scan the QR code, then type the first code"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#qr img") && document.getElementById("secret").textContent.length === 32`))
	secret, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("secret")))
	if err != nil {
		t.Fatal(err)
	}
	step("enrol the authenticator app",
		chromedp.SetValue(chromedp.ID("totp-code"), totpfactor.Code(secret, time.Now())), chromedp.Click(chromedp.ID("totp-confirm-btn")), statusIs("Authenticator app enrolled"))
	step("log out", chromedp.Click(chromedp.ID("logout-btn")), statusIs("Signed out"))
	step("password, then the passkey as second factor",
		chromedp.Click(chromedp.ID("login-btn")), statusIs("Second factor required"),
		chromedp.Click(chromedp.CSS("#factor-list button")), statusIs("Signed in as admin"))
	step("log out again", chromedp.Click(chromedp.ID("logout-btn")), statusIs("Signed out"))
	step("passwordless sign-in with the passkey", chromedp.Click(chromedp.ID("passkey-login-btn")), statusIs("Signed in as admin"))
}
