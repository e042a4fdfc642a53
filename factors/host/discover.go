package host

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// notPlugins are the suffixes of files shipped next to plugins: checksum
// manifests, notes, settings.
var notPlugins = []string{".sha256", ".txt", ".json"}

// discover lists the plugin binaries in dir, sorted.
func discover(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("plugin dir: %w", err)
	}
	var paths []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || slices.ContainsFunc(notPlugins, func(s string) bool { return strings.HasSuffix(name, s) }) {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode()&0o111 == 0 {
			continue
		}
		paths = append(paths, filepath.Join(dir, name))
	}
	slices.Sort(paths)
	return paths, nil
}

// verify returns the binary's SHA-256 after checking it against its pin.
func verify(path string, pins map[string]string, required bool) ([]byte, error) {
	sum, err := FileSHA256(path)
	if err != nil {
		return nil, err
	}
	name, got := filepath.Base(path), hex.EncodeToString(sum)
	pin, pinned := pins[name]
	switch {
	case pinned && !strings.EqualFold(pin, got):
		return nil, fmt.Errorf("checksum mismatch (pinned %s, file has %s): refusing to run it", pin, got)
	case !pinned && required:
		return nil, fmt.Errorf("no pinned checksum, and checksums are required")
	}
	return sum, nil
}

// FileSHA256 is the SHA-256 of the file at path, as plugins are pinned.
func FileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// ParseChecksums reads plugin pins from "name=hex,name2=hex" or from
// "@/path/to/manifest", a file in sha256sum's format ("hex  name" lines).
func ParseChecksums(s string) (map[string]string, error) {
	out := map[string]string{}
	add := func(name, sum string) error {
		name = filepath.Base(strings.TrimPrefix(strings.TrimSpace(name), "*")) // sha256sum -b marks binaries with '*'
		sum = strings.ToLower(strings.TrimSpace(sum))
		if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size || name == "." {
			return fmt.Errorf("checksum for %q is not a SHA-256 hex digest", name)
		}
		out[name] = sum
		return nil
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return out, nil
	}
	if path, ok := strings.CutPrefix(s, "@"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("checksum manifest: %w", err)
		}
		for line := range strings.Lines(string(b)) {
			fields := strings.Fields(line)
			if len(fields) == 0 {
				continue
			}
			if len(fields) != 2 {
				return nil, fmt.Errorf("checksum manifest line %q: want \"hex  name\"", strings.TrimSpace(line))
			}
			if err := add(fields[1], fields[0]); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	for pair := range strings.SplitSeq(s, ",") {
		name, sum, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("checksum %q: want name=hex", pair)
		}
		if err := add(name, sum); err != nil {
			return nil, err
		}
	}
	return out, nil
}
