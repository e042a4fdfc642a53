package smtptest

import (
	"bufio"
	"encoding/base64"
	"io"
	"strings"
)

// newBase64Reader decodes a base64 body whose lines are broken (RFC 2045).
func newBase64Reader(r io.Reader) io.Reader {
	var sb strings.Builder
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		sb.WriteString(strings.TrimSpace(sc.Text()))
	}
	return base64.NewDecoder(base64.StdEncoding, strings.NewReader(sb.String()))
}
