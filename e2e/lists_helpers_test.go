package e2e

// nodes returns the nodes of the connection d[field] (companies, policies,
// userEnrollments, myEnrollments... are Relay connections).
func nodes(d map[string]any, field string) []any {
	c, _ := d[field].(map[string]any)
	edges, _ := c["edges"].([]any)
	out := []any{}
	for _, e := range edges {
		out = append(out, e.(map[string]any)["node"])
	}
	return out
}
