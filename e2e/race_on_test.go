//go:build race

package e2e

// raceDetector is true when the tests run under the race detector (make
// test): code runs several times slower, so tests that exist for scale
// use smaller populations.
const raceDetector = true
