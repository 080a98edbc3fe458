//go:build scale

package dashboard_test

// manyAgencies under -tags scale is the whole state's registry. The page
// then needs seconds where CI's 2,000 take milliseconds, more on a loaded
// machine, so it is run by hand (docs/performance.md).
const manyAgencies = 100000
