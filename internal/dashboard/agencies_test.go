//go:build !scale

package dashboard_test

// manyAgencies is the registry TestBrowserManyAgencies shows in CI: two
// pages of rows, enough for paging, search, filters and a live update,
// and quick on any machine.
const manyAgencies = 2000
