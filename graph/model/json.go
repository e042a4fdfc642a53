// Package model holds GraphQL-only types: gqlgen's generated inputs and
// payloads, and the JSON scalar.
package model

import (
	"encoding/json"
	"fmt"
	"io"
)

// JSON is a raw JSON value passed through unchanged (factor client data and
// responses).
type JSON json.RawMessage

// MarshalGQL writes the raw JSON.
func (j JSON) MarshalGQL(w io.Writer) {
	if len(j) == 0 {
		_, _ = io.WriteString(w, "null")
		return
	}
	_, _ = w.Write(j)
}

// UnmarshalGQL accepts any JSON value (an object, usually) or a string
// holding JSON.
func (j *JSON) UnmarshalGQL(v any) error {
	if s, ok := v.(string); ok && json.Valid([]byte(s)) && len(s) > 0 && (s[0] == '{' || s[0] == '[') {
		*j = JSON(s)
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	*j = JSON(b)
	return nil
}
