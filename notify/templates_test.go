package notify

import (
	"errors"
	"strings"
	"testing"

	"github.com/twofoldauth/twofold/mfa"
)

func TestEveryEventHasDefaultTemplates(t *testing.T) {
	tpl, err := NewTemplates()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range mfa.Events {
		if _, ok := EventVariables[ev]; !ok {
			t.Errorf("%s has no variables list", ev)
			continue
		}
		d := tpl.Default(ev)
		if d.Subject == "" || d.Text == "" || d.HTML == "" {
			t.Errorf("%s: a default part is empty", ev)
		}
		r, err := tpl.Preview(ev, mfa.NotificationTemplate{}, &mfa.Organization{Name: "Acme <b>"})
		if err != nil {
			t.Fatalf("%s: %v", ev, err)
		}
		if strings.Contains(r.Text, "<no value>") || strings.Contains(r.HTML, "<no value>") {
			t.Errorf("%s renders a missing variable", ev)
		}
	}
	if len(EventVariables) != len(mfa.Events) {
		t.Errorf("EventVariables has %d events, mfa.Events %d", len(EventVariables), len(mfa.Events))
	}
}

func TestRenderEscapesHTMLNotText(t *testing.T) {
	tpl, _ := NewTemplates()
	data := map[string]string{"display_name": `<script>alert("x")</script>`, "username": "u", "organization_name": "O&O",
		"link": "https://mfa.example.com/demo#recover=abc", "expires_in": "30 minutes"}
	r, err := tpl.Render(mfa.EventRecoveryLink, nil, data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<script>") || !strings.Contains(r.HTML, "&lt;script&gt;") {
		t.Errorf("HTML part not escaped: %s", r.HTML)
	}
	if !strings.Contains(r.Text, `<script>alert("x")</script>`) || !strings.Contains(r.Text, data["link"]) {
		t.Errorf("text part: %s", r.Text)
	}
	if !strings.Contains(r.HTML, `href="https://mfa.example.com/demo#recover=abc"`) {
		t.Errorf("link not in HTML: %s", r.HTML)
	}
	// A javascript: link is neutralized by html/template.
	data["link"] = "javascript:alert(1)"
	r, _ = tpl.Render(mfa.EventRecoveryLink, nil, data)
	if strings.Contains(r.HTML, `href="javascript:`) {
		t.Errorf("javascript: URL kept: %s", r.HTML)
	}
	// Headers cannot be injected through the subject.
	r, _ = tpl.Render(mfa.EventPasswordResetLink, &mfa.NotificationTemplate{Subject: "Hi {{.display_name}}"},
		map[string]string{"display_name": "x\r\nBcc: evil@example.com"})
	if strings.ContainsAny(r.Subject, "\r\n") {
		t.Errorf("subject keeps a line break: %q", r.Subject)
	}
}

func TestOverridesReplacePartsOnly(t *testing.T) {
	tpl, _ := NewTemplates()
	r, err := tpl.Render(mfa.EventMFAReset, &mfa.NotificationTemplate{Subject: "Reset by {{.actor}}"}, map[string]string{"actor": "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Reset by Ann" || !strings.Contains(r.Text, "Ann reset the two-factor authentication") {
		t.Errorf("%+v", r)
	}
}

func TestCheckRefusesWithLine(t *testing.T) {
	tpl, _ := NewTemplates()
	cases := map[string]struct {
		tpl   mfa.NotificationTemplate
		field string
		line  int
		msg   string
	}{
		"unknown variable":       {mfa.NotificationTemplate{Text: "Hello\n\n{{.password}}"}, "text", 3, "unknown variable .password"},
		"variable of another ev": {mfa.NotificationTemplate{HTML: "<p>{{.link}}</p>"}, "html", 1, "unknown variable .link"},
		"does not parse":         {mfa.NotificationTemplate{Subject: "ok", Text: "a\n{{if .username}}"}, "text", 2, "unexpected EOF"},
		"unknown function":       {mfa.NotificationTemplate{Text: "\n{{exec .username}}"}, "text", 2, "exec"},
		"range":                  {mfa.NotificationTemplate{Text: "{{range 1000000000}}x{{end}}"}, "text", 1, "range is not allowed"},
		"printf":                 {mfa.NotificationTemplate{Text: `{{printf "%09999999d" 1}}`}, "text", 1, "printf is not allowed"},
		"define":                 {mfa.NotificationTemplate{Text: `{{define "x"}}a{{end}}`}, "text", 1, "not allowed"},
		"template call":          {mfa.NotificationTemplate{Subject: "a\nb\n{{template \"x\"}}"}, "subject", 3, "template calls are not allowed"},
		"dot":                    {mfa.NotificationTemplate{HTML: "{{.}}"}, "html", 1, "is not allowed"},
		"nested field":           {mfa.NotificationTemplate{Text: "{{.username.x}}"}, "text", 1, "unknown variable"},
		"html escaping context":  {mfa.NotificationTemplate{HTML: "<p>\n<a href=\"{{.public_url}}\n"}, "html", 0, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := tpl.Check(mfa.EventMFAReset, c.tpl)
			var te *mfa.TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("want a TemplateError, got %v", err)
			}
			if te.Field != c.field || (c.line != 0 && te.Line != c.line) || !strings.Contains(te.Message, c.msg) {
				t.Errorf("got %+v (%v), want field %s line %d containing %q", te, te, c.field, c.line, c.msg)
			}
		})
	}
	ok := mfa.NotificationTemplate{Subject: "{{.organization_name}}: reset", Text: "{{if eq .actor \"x\"}}a{{else}}{{.actor}}{{end}} {{$a := .username}}{{$a}} {{$.display_name}}",
		HTML: "<p>{{with .actor}}{{.}}{{end}}</p>"}
	if err := tpl.Check(mfa.EventMFAReset, ok); err != nil {
		// {{.}} inside with is refused too: keep the rule simple.
		if !strings.Contains(err.Error(), "{{.}}") {
			t.Errorf("good template refused: %v", err)
		}
	}
	ok.HTML = "<p>{{if .actor}}{{.actor}}{{end}}</p>"
	if err := tpl.Check(mfa.EventMFAReset, ok); err != nil {
		t.Errorf("good template refused: %v", err)
	}
}
