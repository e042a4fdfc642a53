package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/server"
)

// settingsPluginDir is a plugin folder with the real totp plugin and the
// host's test factor, which declares a secret setting; as "strict" it also
// requires one.
func settingsPluginDir(t *testing.T, strict bool) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(pluginDir, "totp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "totp"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	name := "testfactor"
	if strict {
		name = "strict"
	}
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), "../factors/host/testdata/testfactor").CombinedOutput(); err != nil {
		t.Fatalf("build testfactor: %v\n%s", err, out)
	}
	return dir
}

// startWith starts another server on the env's database with cfg changed.
func (e *env) startWith(change func(*server.Config)) (*httptest.Server, error) {
	cfg := e.cfg
	cfg.PluginSettings = maps.Clone(cfg.PluginSettings)
	change(&cfg)
	s, err := server.New(context.Background(), cfg, server.WithMFAOptions(mfa.WithClock(e.clock)))
	if err != nil {
		return nil, err
	}
	hs := httptest.NewServer(s.Handler())
	e.t.Cleanup(func() { hs.Close(); s.Close() })
	return hs, nil
}

const factorSettingsQuery = `{ factorTypes { id protocolVersion settings { name type required secret default description value source variable } } }`

// Plugins get their settings from TWOFOLD_FACTOR_* variables (and the
// built-in plugins' older variables), and organization managers see them
// in factorTypes with secrets masked; nobody else does.
func TestFactorTypeSettings(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		hs, err := e.startWith(func(c *server.Config) {
			c.PluginDir = settingsPluginDir(t, false)
			c.PluginEnviron = []string{"TWOFOLD_FACTOR_TOTP_ISSUER=Acme Corp", "TWOFOLD_TOTP_DIGITS=8",
				"TWOFOLD_FACTOR_TESTFACTOR_TOKEN=hunter2-secret", "TWOFOLD_FACTOR_TESTFACTOR_COUNT=5"}
		})
		if err != nil {
			t.Fatal(err)
		}
		admin := e.clientOf(hs)
		admin.token = e.admin().token
		r := admin.post(factorSettingsQuery, nil)
		if len(r.Errors) > 0 {
			t.Fatalf("admin: %+v", r.Errors)
		}
		raw, _ := json.Marshal(r.Data)
		if strings.Contains(string(raw), "hunter2") {
			t.Fatalf("a secret value is shown: %s", raw)
		}
		got := map[string]map[string]any{}
		for _, ft := range r.Data["factorTypes"].([]any) {
			ft := ft.(map[string]any)
			if ft["protocolVersion"].(float64) != 2 {
				t.Errorf("%s protocol version %v", ft["id"], ft["protocolVersion"])
			}
			for _, s := range ft["settings"].([]any) {
				s := s.(map[string]any)
				got[ft["id"].(string)+"."+s["name"].(string)] = s
			}
		}
		for key, want := range map[string]string{
			"totp.issuer":      `{"default":"Twofold","description":"issuer shown in authenticator apps, 1-64 characters","name":"issuer","required":false,"secret":false,"source":"TWOFOLD_FACTOR_TOTP_ISSUER","type":"string","value":"Acme Corp","variable":"TWOFOLD_FACTOR_TOTP_ISSUER"}`,
			"totp.digits":      `{"default":"6","description":"6 or 8","name":"digits","required":false,"secret":false,"source":"TWOFOLD_TOTP_DIGITS","type":"int","value":"8","variable":"TWOFOLD_FACTOR_TOTP_DIGITS"}`,
			"totp.skew":        `{"default":"1","description":"steps accepted either side of now, 0-2","name":"skew","required":false,"secret":false,"source":"config","type":"int","value":"2","variable":"TWOFOLD_FACTOR_TOTP_SKEW"}`,
			"totp.period":      `{"default":"30","description":"seconds per code, 15-120","name":"period","required":false,"secret":false,"source":null,"type":"int","value":null,"variable":"TWOFOLD_FACTOR_TOTP_PERIOD"}`,
			"testfactor.token": `{"default":null,"description":"a secret","name":"token","required":false,"secret":true,"source":"TWOFOLD_FACTOR_TESTFACTOR_TOKEN","type":"string","value":"********","variable":"TWOFOLD_FACTOR_TESTFACTOR_TOKEN"}`,
			"testfactor.count": `{"default":"3","description":"a number","name":"count","required":false,"secret":false,"source":"TWOFOLD_FACTOR_TESTFACTOR_COUNT","type":"int","value":"5","variable":"TWOFOLD_FACTOR_TESTFACTOR_COUNT"}`,
		} {
			if g := jsonOf(got[key]); g != want {
				t.Errorf("%s:\n got %s\nwant %s", key, g, want)
			}
		}

		// The plugin was configured with them: new TOTP secrets have 8
		// digits and the issuer.
		d := admin.must(`mutation { beginEnrollment(input: {factorType: "totp"}) { clientData } }`, nil)
		uri := dig(d, "beginEnrollment", "clientData", "uri").(string)
		if !strings.Contains(uri, "digits=8") || !strings.Contains(uri, "issuer=Acme") {
			t.Errorf("otpauth URI %s", uri)
		}

		// A user without MANAGE_ORGANIZATION, and nobody, see the types
		// but not their settings.
		e.createUser(e.admin(), map[string]any{"username": "helpdesk", "email": "hd@example.com", "password": "helpdesk-pass-1", "permissions": []string{"MANAGE_USERS"}})
		helpdesk := e.clientOf(hs)
		helpdesk.token = e.loginAs("helpdesk", "helpdesk-pass-1").token
		for who, c := range map[string]*client{"MANAGE_USERS": helpdesk, "nobody": e.clientOf(hs)} {
			r := c.post(`{ factorTypes { id settings { name value } } }`, nil)
			want := map[string]string{"MANAGE_USERS": "FORBIDDEN", "nobody": "UNAUTHENTICATED"}[who]
			if r.code() != want || len(r.Errors) != 2 {
				t.Errorf("%s: errors %+v, want %s for each type", who, r.Errors, want)
			}
			for _, ft := range r.Data["factorTypes"].([]any) {
				if s := ft.(map[string]any)["settings"]; s != nil {
					t.Errorf("%s sees settings %v", who, s)
				}
			}
		}
	})
}

// A bad or missing plugin setting stops start-up, naming every variable at
// fault at once, the older variables included.
func TestPluginSettingErrorsStopStartUp(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		_, err := e.startWith(func(c *server.Config) {
			c.PluginDir = settingsPluginDir(t, true)
			c.PluginEnviron = []string{"TWOFOLD_TOTP_DIGITS=eight", "TWOFOLD_FACTOR_TOTP_PERIOD=30s", "TWOFOLD_FACTOR_STRICT_HOOK=nowhere"}
		})
		if err == nil {
			t.Fatal("started")
		}
		for _, want := range []string{
			"TWOFOLD_TOTP_DIGITS: not a valid int",
			"TWOFOLD_FACTOR_TOTP_PERIOD: not a valid int",
			"TWOFOLD_FACTOR_STRICT_HOOK: not a valid url",
			"TWOFOLD_FACTOR_STRICT_API_KEY: required by factor strict",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
		// A value the plugin itself refuses (digits must be 6 or 8) names
		// the plugin.
		_, err = e.startWith(func(c *server.Config) { c.PluginEnviron = []string{"TWOFOLD_FACTOR_TOTP_DIGITS=7"} })
		if err == nil || !strings.Contains(err.Error(), "plugin totp: configure totp") || !strings.Contains(err.Error(), "digits must be 6 or 8") {
			t.Fatalf("got %v", err)
		}
	})
}
