package host_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-plugin"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/host"
	"github.com/twofoldauth/twofold/factors/internal/wire"
)

func TestEnvName(t *testing.T) {
	if got := host.EnvName("sms-gw", "api_key"); got != "TWOFOLD_FACTOR_SMS_GW_API_KEY" {
		t.Fatal(got)
	}
}

// Variables, their _FILE variants, aliases and the host's own values all
// reach Configure, in that order of precedence; Types shows where each
// came from and masks secrets.
func TestSettingsReachConfigure(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, host.Config{Dir: pluginDir(t, "testfactor"),
		Environ: []string{
			"TWOFOLD_FACTOR_TESTFACTOR_GREETING=hi",
			"TWOFOLD_FACTOR_TESTFACTOR_TOKEN_FILE=" + secretFile,
			"OLD_COUNT=7", "OLD_GREETING=alias loses",
			"TWOFOLD_FACTOR_TESTFACTOR_WAIT=1m30s",
		},
		Aliases:  map[string]map[string]string{"testfactor": {"count": "OLD_COUNT", "greeting": "OLD_GREETING"}},
		Settings: map[string]map[string]string{"testfactor": {"names": "a,b", "count": "1"}},
	})
	got, err := ask(context.Background(), factor(t, r, "testfactor"), `{}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"greeting": "hi", "token": "s3cret-from-file", "count": "7", "wait": "1m30s", "names": "a,b"}
	if diff := cmp.Diff(want, got.Settings); diff != "" {
		t.Errorf("settings as the plugin saw them (-want +got):\n%s", diff)
	}
	shown := map[string]factors.SettingValue{}
	for _, v := range r.Types()[0].Configured {
		shown[v.Name] = v
	}
	for name, w := range map[string]struct{ value, source string }{
		"greeting": {"hi", "TWOFOLD_FACTOR_TESTFACTOR_GREETING"},
		"token":    {factors.Masked, "TWOFOLD_FACTOR_TESTFACTOR_TOKEN_FILE"},
		"count":    {"7", "OLD_COUNT"},
		"names":    {"a,b", "config"},
		"enabled":  {"", ""},
	} {
		if v := shown[name]; v.Value != w.value || v.Source != w.source || v.Set != (w.source != "") {
			t.Errorf("%s shown as %+v, want value %q from %q", name, v, w.value, w.source)
		}
	}
	if len(shown) != 7 {
		t.Errorf("Types shows %d settings, want the 7 declared", len(shown))
	}
}

// Every bad or missing value of every plugin is reported at once, by
// variable, without repeating a value; nothing is left running.
func TestSettingsErrorsNameEveryVariable(t *testing.T) {
	dir := pluginDir(t, "testfactor")
	install(t, dir, "strict", "testfactor", 0o755)
	before := children(t)
	_, err := host.New(context.Background(), host.Config{Dir: dir, CallTimeout: 5 * time.Second,
		Environ: []string{
			"TWOFOLD_FACTOR_TESTFACTOR_COUNT=three",
			"TWOFOLD_FACTOR_TESTFACTOR_ENABLED=maybe",
			"TWOFOLD_FACTOR_TESTFACTOR_WAIT=5 parsecs",
			"TWOFOLD_FACTOR_TESTFACTOR_HOOK=not-a-url",
			"TWOFOLD_FACTOR_TESTFACTOR_TOKEN=hunter2", "TWOFOLD_FACTOR_TESTFACTOR_TOKEN_FILE=/x",
			"TWOFOLD_FACTOR_STRICT_TOKEN_FILE=/no/such/file",
		},
		Settings: map[string]map[string]string{"testfactor": {"colour": "blue"}},
	})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"TWOFOLD_FACTOR_TESTFACTOR_COUNT: not a valid int",
		"TWOFOLD_FACTOR_TESTFACTOR_ENABLED: not a valid bool",
		"TWOFOLD_FACTOR_TESTFACTOR_WAIT: not a valid duration",
		"TWOFOLD_FACTOR_TESTFACTOR_HOOK: not a valid url",
		"TWOFOLD_FACTOR_TESTFACTOR_TOKEN: set either TWOFOLD_FACTOR_TESTFACTOR_TOKEN or TWOFOLD_FACTOR_TESTFACTOR_TOKEN_FILE",
		`setting "colour" is configured but factor testfactor does not declare it`,
		"TWOFOLD_FACTOR_STRICT_API_KEY: required by factor strict (the gateway's key)",
		"TWOFOLD_FACTOR_STRICT_TOKEN_FILE: cannot read the file it names: no such file or directory",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "parsecs") {
		t.Errorf("the error repeats a value:\n%v", err)
	}
	if after := children(t); len(after) > len(before) {
		t.Fatalf("a refused start left processes %v", after)
	}
}

// A required setting set through its variable lets the plugin start.
func TestRequiredSettingSet(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "strict", "testfactor", 0o755)
	r := start(t, host.Config{Dir: dir, Environ: []string{"TWOFOLD_FACTOR_STRICT_API_KEY=k"}})
	got, err := ask(context.Background(), factor(t, r, "strict"), `{}`)
	if err != nil || got.Settings["api_key"] != "k" {
		t.Fatalf("got %v, %v", got.Settings, err)
	}
}

func TestUnknownFactorVariablesAreWarned(t *testing.T) {
	var logs bytes.Buffer
	start(t, host.Config{Dir: pluginDir(t, "testfactor"), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Environ: []string{"TWOFOLD_FACTOR_TESTFACTOR_GRETING=typo", "TWOFOLD_FACTOR_NOSUCH_KEY=1", "TWOFOLD_FACTOR_TESTFACTOR_GREETING=ok"}})
	for _, want := range []string{
		`factor testfactor declares no such setting (a typo?)" name=TWOFOLD_FACTOR_TESTFACTOR_GRETING`,
		`no installed factor plugin has this id (a typo?)" name=TWOFOLD_FACTOR_NOSUCH_KEY`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "name=TWOFOLD_FACTOR_TESTFACTOR_GREETING") {
		t.Errorf("a declared setting was warned about:\n%s", logs.String())
	}
}

// A plugin built for protocol version 1 (settings as a map of
// descriptions) still runs, its settings read as optional strings; plugins
// for versions the host does not speak are refused, naming both sides'.
func TestProtocolVersions(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "proto1", "versioned", 0o755)
	install(t, dir, "testfactor", "testfactor", 0o755)
	r := start(t, host.Config{Dir: dir, Environ: []string{"TWOFOLD_FACTOR_PROTO1_GREETING=hello v1"}})
	res, err := factor(t, r, "proto1").FinishVerification(context.Background(), &factors.FinishVerificationRequest{})
	if err != nil || string(res.State) != `{"greeting":"hello v1"}` {
		t.Fatalf("old plugin: %s, %v", res.State, err)
	}
	versions := map[string]int{}
	for _, st := range r.Types() {
		versions[st.ID] = st.ProtocolVersion
	}
	if versions["proto1"] != 1 || versions["testfactor"] != factors.ProtocolVersion {
		t.Errorf("negotiated versions %v", versions)
	}
	if c := r.Types()[0].Configured; len(c) != 1 || c[0].Name != "greeting" || c[0].Type != factors.SettingString {
		t.Errorf("old plugin's settings shown as %+v", c)
	}

	for name, want := range map[string]string{
		"proto3": "plugin proto3: built for factor protocol version 3, but this host speaks versions 1 to 2 (too new",
		"proto0": "plugin proto0: built for factor protocol version 0, but this host speaks versions 1 to 2 (too old",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			install(t, dir, name, "versioned", 0o755)
			_, err := host.New(context.Background(), host.Config{Dir: dir})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v, want %q", err, want)
			}
		})
	}
}

// A plugin built on the current SDK still serves a host that speaks only
// version 1, and tells it so in Describe.
func TestCurrentPluginServesAnOldHost(t *testing.T) {
	cmd := exec.Command(filepath.Join(bins, "testfactor"))
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: wire.Versions(nil, 1, 1),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	d, err := raw.(factors.Factor).Describe(context.Background(), &factors.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if client.NegotiatedVersion() != 1 || d.ProtocolVersion != 1 {
		t.Fatalf("negotiated %d, Describe says %d; want 1", client.NegotiatedVersion(), d.ProtocolVersion)
	}
	if d.Settings["greeting"] != "echoed" {
		t.Errorf("version 1 settings map: %v", d.Settings)
	}
}
