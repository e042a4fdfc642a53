package factors

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SettingType is how the host checks a setting's value before Configure.
// Values always reach the plugin as strings.
type SettingType string

// Setting types.
const (
	SettingString SettingType = "string"
	// SettingInt is a base-10 integer.
	SettingInt SettingType = "int"
	// SettingBool is true or false (also 1/0, t/f, as strconv.ParseBool).
	SettingBool SettingType = "bool"
	// SettingDuration is a Go duration: 300ms, 5m, 1h30m.
	SettingDuration SettingType = "duration"
	// SettingURL is an absolute URL with a scheme and a host.
	SettingURL SettingType = "url"
	// SettingList is a comma-separated list.
	SettingList SettingType = "list"
)

// Setting declares one setting a factor accepts. The host reads its value
// from TWOFOLD_FACTOR_<FACTOR ID>_<NAME> (upper-cased, '-' as '_'), or from
// the file that variable's _FILE variant names, checks it against the
// declaration and passes it in Configure.
type Setting struct {
	// Name: lowercase letters, digits and '_', starting with a letter.
	Name string
	// Type is SettingString when empty.
	Type SettingType
	// Required: the host refuses to start the plugin without a value.
	Required bool
	// Secret values are masked wherever the host shows them.
	Secret bool
	// Default is what the plugin uses when no value is set, for humans: the
	// host does not pass it.
	Default     string
	Description string
}

var settingName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Validate checks the declaration itself.
func (s Setting) Validate() error {
	if !settingName.MatchString(s.Name) {
		return fmt.Errorf("setting name %q: want lowercase letters, digits and '_', starting with a letter", s.Name)
	}
	switch s.Type {
	case "", SettingString, SettingInt, SettingBool, SettingDuration, SettingURL, SettingList:
	default:
		return fmt.Errorf("setting %s: unknown type %q", s.Name, s.Type)
	}
	return nil
}

// Check says whether value fits the setting's type. The message does not
// repeat the value (it may be a secret).
func (s Setting) Check(value string) error {
	var ok bool
	switch s.Type {
	case SettingInt:
		_, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		ok = err == nil
	case SettingBool:
		_, err := strconv.ParseBool(strings.TrimSpace(value))
		ok = err == nil
	case SettingDuration:
		_, err := time.ParseDuration(strings.TrimSpace(value))
		ok = err == nil
	case SettingURL:
		u, err := url.Parse(strings.TrimSpace(value))
		ok = err == nil && u.Scheme != "" && u.Host != ""
	default:
		return nil
	}
	if !ok {
		return fmt.Errorf("not a valid %s (%s)", s.Type, typeHint[s.Type])
	}
	return nil
}

var typeHint = map[SettingType]string{
	SettingInt:      "a whole number such as 30",
	SettingBool:     "true or false",
	SettingDuration: "a duration such as 300ms, 5m or 1h30m",
	SettingURL:      "an absolute URL such as https://host/path",
}

// SettingValue is one declared setting with the value the host configured,
// as the host shows it: a secret's value is masked.
type SettingValue struct {
	Setting
	// Value is the configured value ("" when unset; Masked for a secret).
	Value string
	// Set says whether a value was configured (else the plugin's default
	// applies).
	Set bool
	// Source names where the value came from: the variable, or "config"
	// for a value given by the host's own configuration.
	Source string
	// Variable is the variable that sets this setting
	// (TWOFOLD_FACTOR_<ID>_<SETTING>).
	Variable string
}

// Masked replaces a secret setting's value wherever the host shows it.
const Masked = "********"
