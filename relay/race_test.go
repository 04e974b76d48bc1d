//go:build race

package relay

// raceEnabled: the race detector allocates on its own; allocation tests skip.
const raceEnabled = true
