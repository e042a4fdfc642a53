package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"regexp"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"

	"github.com/twofoldauth/twofold/mfa"
)

//go:embed templates
var defaultFS embed.FS

// Templates renders notifications: each event has a subject, a text part
// (text/template) and an HTML part (html/template, so data is escaped),
// embedded defaults that an organization may override part by part. It
// implements mfa.NotificationTemplates.
//
// Templates may only print variables, test them (if/else/with, eq, ne,
// not, and, or) and declare template variables: no range, no calls into
// other templates, no functions that could make a small template render a
// huge mail. A variable not listed for the event is refused.
type Templates struct {
	defaults map[mfa.Event]mfa.NotificationTemplate
}

var _ mfa.NotificationTemplates = (*Templates)(nil)

// NewTemplates loads the embedded defaults and checks them.
func NewTemplates() (*Templates, error) {
	t := &Templates{defaults: map[mfa.Event]mfa.NotificationTemplate{}}
	for ev := range EventVariables {
		read := func(ext string) (string, error) {
			b, err := defaultFS.ReadFile("templates/" + string(ev) + ext)
			return string(b), err
		}
		subject, err1 := read(".subject.txt")
		text, err2 := read(".txt")
		html, err3 := read(".html")
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("notify: default template of %s: %w", ev, err)
		}
		d := mfa.NotificationTemplate{Event: ev, Subject: strings.TrimSpace(subject), Text: text, HTML: html, Enabled: true}
		if err := t.Check(ev, d); err != nil {
			return nil, fmt.Errorf("notify: default template of %s: %w", ev, err)
		}
		t.defaults[ev] = d
	}
	return t, nil
}

// Variables lists what ev's templates may use.
func (t *Templates) Variables(ev mfa.Event) ([]string, bool) { return variables(ev) }

// Default is ev's embedded template.
func (t *Templates) Default(ev mfa.Event) mfa.NotificationTemplate { return t.defaults[ev] }

// Check parses each non-empty part of o and renders it with sample data.
// The error is a *mfa.TemplateError naming the part and the line.
func (t *Templates) Check(ev mfa.Event, o mfa.NotificationTemplate) error {
	vars, ok := variables(ev)
	if !ok {
		return fmt.Errorf("notify: unknown event %q", ev)
	}
	parts := []struct {
		field, src string
		html       bool
	}{{"subject", o.Subject, false}, {"text", o.Text, false}, {"html", o.HTML, true}}
	for _, p := range parts {
		if p.src == "" {
			continue
		}
		if err := checkPart(p.field, p.src, p.html, vars); err != nil {
			return err
		}
	}
	return nil
}

// Preview renders o over the defaults with sample data.
func (t *Templates) Preview(ev mfa.Event, o mfa.NotificationTemplate, org *mfa.Organization) (mfa.NotificationPreview, error) {
	data := map[string]string{}
	for k, v := range sampleData {
		data[k] = v
	}
	if org != nil {
		data["organization_name"] = org.Name
	}
	return t.Render(ev, &o, data)
}

// Render renders ev's mail: o's non-empty parts (o may be nil), the
// defaults for the rest.
func (t *Templates) Render(ev mfa.Event, o *mfa.NotificationTemplate, data map[string]string) (mfa.NotificationPreview, error) {
	d, ok := t.defaults[ev]
	if !ok {
		return mfa.NotificationPreview{}, fmt.Errorf("notify: unknown event %q", ev)
	}
	if o != nil {
		if o.Subject != "" {
			d.Subject = o.Subject
		}
		if o.Text != "" {
			d.Text = o.Text
		}
		if o.HTML != "" {
			d.HTML = o.HTML
		}
	}
	subject, err := renderText("subject", d.Subject, data)
	if err != nil {
		return mfa.NotificationPreview{}, err
	}
	text, err := renderText("text", d.Text, data)
	if err != nil {
		return mfa.NotificationPreview{}, err
	}
	html, err := renderHTML(d.HTML, data)
	if err != nil {
		return mfa.NotificationPreview{}, err
	}
	// A subject is one header line.
	subject = strings.Join(strings.Fields(subject), " ")
	return mfa.NotificationPreview{Subject: subject, Text: text, HTML: htmlPage(html)}, nil
}

// htmlPage wraps the (escaped) HTML part in a minimal document.
func htmlPage(body string) string {
	return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n" +
		"<body style=\"font-family: sans-serif; line-height: 1.4\">\n" + body + "</body></html>\n"
}

var allowedFuncs = map[string]bool{"eq": true, "ne": true, "not": true, "and": true, "or": true}

// knownFuncs are text/template's builtins: they parse, so the walker can
// say which are not allowed (parse needs non-nil values).
var knownFuncs = map[string]any{}

func init() {
	for _, f := range []string{"and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println",
		"urlquery", "eq", "ge", "gt", "le", "lt", "ne"} {
		knownFuncs[f] = struct{}{}
	}
}

func renderText(name, src string, data map[string]string) (string, error) {
	tpl, err := texttemplate.New(name).Option("missingkey=zero").Parse(src)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

func renderHTML(src string, data map[string]string) (string, error) {
	tpl, err := htmltemplate.New("html").Option("missingkey=zero").Parse(src)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

var lineRE = regexp.MustCompile(`^template: [a-z]+:(\d+):(?:\d+:)? ?(.*)$`)

// templateError turns a text/template or html/template error into a
// *mfa.TemplateError with its line.
func templateError(field string, err error) *mfa.TemplateError {
	var he *htmltemplate.Error
	if errors.As(err, &he) && he.Line > 0 {
		msg := he.Description
		return &mfa.TemplateError{Field: field, Line: he.Line, Message: msg}
	}
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(strings.SplitN(msg, "\n", 2)[0]); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &mfa.TemplateError{Field: field, Line: line, Message: strings.TrimPrefix(m[2], "executing \""+field+"\" at ")}
	}
	return &mfa.TemplateError{Field: field, Message: msg}
}

// checkPart parses src, walks it for what is allowed, and renders it with
// sample data (html/template finds some escaping errors only then).
func checkPart(field, src string, html bool, vars []string) error {
	tree, err := parse.Parse(field, src, "", "", knownFuncs)
	if err != nil {
		return templateError(field, err)
	}
	if len(tree) != 1 {
		// define and block make more than one tree.
		for name, tr := range tree {
			if name != field {
				return &mfa.TemplateError{Field: field, Line: line(tr.Root, tr), Message: "define and block are not allowed"}
			}
		}
	}
	tr := tree[field]
	w := walker{tree: tr, field: field, vars: vars}
	if err := w.list(tr.Root); err != nil {
		return err
	}
	sample := map[string]string{}
	for _, v := range vars {
		sample[v] = sampleData[v]
	}
	if html {
		_, err = renderHTML(src, sample)
	} else {
		_, err = renderText(field, src, sample)
	}
	if err != nil {
		return templateError(field, err)
	}
	return nil
}

func line(n parse.Node, tr *parse.Tree) int {
	if n == nil {
		return 0
	}
	loc, _ := tr.ErrorContext(n)
	// loc is "name:line:col".
	parts := strings.Split(loc, ":")
	if len(parts) >= 3 {
		l, _ := strconv.Atoi(parts[len(parts)-2])
		return l
	}
	return 0
}

type walker struct {
	tree  *parse.Tree
	field string
	vars  []string
}

func (w walker) fail(n parse.Node, format string, args ...any) error {
	return &mfa.TemplateError{Field: w.field, Line: line(n, w.tree), Message: fmt.Sprintf(format, args...)}
}

func (w walker) list(l *parse.ListNode) error {
	if l == nil {
		return nil
	}
	for _, n := range l.Nodes {
		if err := w.node(n); err != nil {
			return err
		}
	}
	return nil
}

func (w walker) node(n parse.Node) error {
	switch n := n.(type) {
	case *parse.TextNode, *parse.CommentNode:
		return nil
	case *parse.ActionNode:
		return w.pipe(n.Pipe)
	case *parse.IfNode:
		return w.branch(&n.BranchNode)
	case *parse.WithNode:
		return w.branch(&n.BranchNode)
	case *parse.RangeNode:
		return w.fail(n, "range is not allowed")
	case *parse.TemplateNode:
		return w.fail(n, "template calls are not allowed")
	default:
		return w.fail(n, "%s is not allowed", n)
	}
}

func (w walker) branch(b *parse.BranchNode) error {
	if err := w.pipe(b.Pipe); err != nil {
		return err
	}
	if err := w.list(b.List); err != nil {
		return err
	}
	return w.list(b.ElseList)
}

func (w walker) pipe(p *parse.PipeNode) error {
	if p == nil {
		return nil
	}
	for _, c := range p.Cmds {
		for i, a := range c.Args {
			if err := w.arg(a, i == 0); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w walker) arg(a parse.Node, first bool) error {
	switch a := a.(type) {
	case *parse.FieldNode:
		return w.variable(a, a.Ident)
	case *parse.VariableNode:
		if len(a.Ident) > 1 && a.Ident[0] == "$" {
			return w.variable(a, a.Ident[1:])
		}
		if len(a.Ident) > 1 {
			return w.fail(a, "%s: fields of template variables are not allowed", a)
		}
		return nil
	case *parse.IdentifierNode:
		if !allowedFuncs[a.Ident] {
			return w.fail(a, "function %s is not allowed (only eq, ne, not, and, or)", a.Ident)
		}
		return nil
	case *parse.StringNode, *parse.BoolNode, *parse.NumberNode, *parse.NilNode:
		return nil
	case *parse.PipeNode:
		return w.pipe(a)
	case *parse.DotNode:
		return w.fail(a, "{{.}} is not allowed: name a variable, e.g. {{.username}}")
	case *parse.ChainNode:
		return w.fail(a, "%s is not allowed", a)
	default:
		return w.fail(a, "%s is not allowed", a)
	}
}

func (w walker) variable(n parse.Node, ident []string) error {
	if len(ident) != 1 {
		return w.fail(n, "unknown variable %s", "."+strings.Join(ident, "."))
	}
	if !slices.Contains(w.vars, ident[0]) {
		return w.fail(n, "unknown variable .%s (this event has: %s)", ident[0], strings.Join(w.vars, ", "))
	}
	return nil
}
