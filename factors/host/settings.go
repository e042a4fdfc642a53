package host

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/twofoldauth/twofold/factors"
)

// EnvPrefix starts every variable that sets a plugin's setting:
// TWOFOLD_FACTOR_<FACTOR ID>_<SETTING>.
const EnvPrefix = "TWOFOLD_FACTOR_"

// EnvName is the variable that sets a factor's setting: EnvPrefix, then the
// factor id and the setting name upper-cased, '-' written as '_'.
func EnvName(factorID, setting string) string {
	up := func(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }
	return EnvPrefix + up(factorID) + "_" + up(setting)
}

// SettingsError lists every bad or missing setting of one plugin, each
// naming the variable that sets it.
type SettingsError struct {
	Plugin   string
	Factor   string
	Problems []string
}

func (e *SettingsError) Error() string {
	return fmt.Sprintf("factor %s: bad settings:\n  %s", e.Factor, strings.Join(e.Problems, "\n  "))
}

// environ turns "NAME=value" pairs into a map; later pairs win, as in a
// process environment.
func environ(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// resolveSettings reads a factor's declared settings from the variables,
// the aliases and the configured values (in that order), and checks each
// against its declaration. It returns the values for Configure and what
// Types shows, or a *SettingsError naming every problem.
func (r *Registry) resolveSettings(plugin string, desc *factors.DescribeResponse) (map[string]string, []factors.SettingValue, error) {
	id := desc.ID
	schema := desc.Schema()
	serr := &SettingsError{Plugin: plugin, Factor: id}
	problem := func(format string, args ...any) { serr.Problems = append(serr.Problems, fmt.Sprintf(format, args...)) }
	declared := map[string]bool{}
	for _, s := range schema {
		if err := s.Validate(); err != nil {
			problem("the plugin declares a bad setting: %v", err)
			continue
		}
		if declared[s.Name] {
			problem("the plugin declares setting %q twice", s.Name)
		}
		declared[s.Name] = true
	}
	if len(serr.Problems) > 0 {
		return nil, nil, serr
	}
	values := map[string]string{}
	shown := make([]factors.SettingValue, 0, len(schema))
	for _, s := range schema {
		if s.Type == "" {
			s.Type = factors.SettingString
		}
		name := EnvName(id, s.Name)
		v, source, err := r.lookup(id, s.Name, name)
		unset := factors.SettingValue{Setting: s, Variable: name}
		switch {
		case err != nil:
			problem("%s: %v", source, err)
			continue
		case source == "" && s.Required:
			problem("%s: required by factor %s (%s)", name, id, s.Description)
			continue
		case source == "":
			shown = append(shown, unset)
			continue
		}
		if err := s.Check(v); err != nil {
			label := source
			if source == "config" {
				label = fmt.Sprintf("setting %s (configured)", s.Name)
			}
			problem("%s: %v", label, err)
			continue
		}
		values[s.Name] = v
		sv := factors.SettingValue{Setting: s, Value: v, Set: true, Source: source, Variable: name}
		if s.Secret {
			sv.Value = factors.Masked
		}
		shown = append(shown, sv)
	}
	// Values the host's own configuration gives must be declared too: a
	// typo there would otherwise be dropped silently.
	var extra []string
	for k := range r.cfg.Settings[id] {
		if !declared[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		problem("setting %q is configured but factor %s does not declare it", k, id)
	}
	if len(serr.Problems) > 0 {
		return nil, nil, serr
	}
	return values, shown, nil
}

// lookup finds a setting's value: the variable, its _FILE variant, the
// alias variable, then the host's configuration. source names where it came
// from ("" when nowhere); on error it names the variable at fault.
func (r *Registry) lookup(id, setting, name string) (value, source string, err error) {
	v, direct := r.env[name]
	path, file := r.env[name+"_FILE"]
	direct, file = direct && v != "", file && path != ""
	switch {
	case direct && file:
		return "", name, fmt.Errorf("set either %s or %s_FILE, not both", name, name)
	case direct:
		return v, name, nil
	case file:
		b, err := os.ReadFile(path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", name + "_FILE", fmt.Errorf("cannot read the file it names: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), name + "_FILE", nil
	}
	if alias := r.cfg.Aliases[id][setting]; alias != "" {
		if v := r.env[alias]; v != "" {
			return v, alias, nil
		}
	}
	if v, ok := r.cfg.Settings[id][setting]; ok {
		return v, "config", nil
	}
	return "", "", nil
}

// warnUnknownVariables warns about TWOFOLD_FACTOR_* variables that no
// loaded factor declares, once every plugin is loaded: most likely typos,
// as the server warns about unknown TWOFOLD_* variables.
func (r *Registry) warnUnknownVariables() {
	known := map[string]bool{}
	for _, p := range r.procs {
		for _, s := range p.desc.Schema() {
			n := EnvName(p.id, s.Name)
			known[n], known[n+"_FILE"] = true, true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.env)) {
		if !strings.HasPrefix(k, EnvPrefix) || known[k] {
			continue
		}
		owner := ""
		for id := range r.procs {
			if strings.HasPrefix(k, EnvName(id, "")) && len(id) > len(owner) {
				owner = id
			}
		}
		if owner != "" {
			r.log.Warn("unknown variable: factor "+owner+" declares no such setting (a typo?)", "name", k)
		} else {
			r.log.Warn("unknown variable: no installed factor plugin has this id (a typo?)", "name", k)
		}
	}
}
