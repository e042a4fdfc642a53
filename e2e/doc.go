// Package e2e holds Twofold's end-to-end tests: a real server over HTTP on
// SQLite and MariaDB, with the real factor plugin processes.
package e2e
