//go:build clusterkill

package killtest

// With -tags clusterkill the kill tests loop, as an operator's soak would;
// NDXP_KILL_RUNS still overrides the count.
func init() { defaultRuns = 20 }
