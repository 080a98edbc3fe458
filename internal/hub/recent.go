package hub

import "sync"

// recentDocs keeps what pushing a just-sent document needs (its view and
// its small bodies), so that delivering it does not read and decode it from
// the store again: at the peak, decoding documents for pushes was the
// largest use of JSON in the hub. Only documents sent since the hub started
// are here, bounded by count and bytes, oldest out first; a recall or a
// purge drops the document. Entries are shared between pushes: read-only.
// The sender's name is the one it had when it sent (as a document shows
// it), even if the registry renames it meanwhile.
type recentDocs struct {
	mu       sync.Mutex
	byID     map[string]*recentDoc
	order    []string // ids, oldest first; some may have been dropped already
	bytes    int64
	maxBytes int64
	maxDocs  int
}

type recentDoc struct {
	view   *DocumentView
	inline [][]byte // as Push.Inline
	size   int64
}

// Bounds of the cache of recent documents.
const (
	recentMaxBytes = 16 << 20
	recentMaxDocs  = 8192
)

func newRecentDocs(maxBytes int64, maxDocs int) *recentDocs {
	return &recentDocs{byID: map[string]*recentDoc{}, maxBytes: maxBytes, maxDocs: maxDocs}
}

// add keeps a document about to be committed (Send drops it again if the
// commit fails or a concurrent retry won).
func (r *recentDocs) add(view *DocumentView, inline [][]byte) {
	size := int64(512) // header and bookkeeping, roughly
	for _, a := range view.Doc.Header.Attachments {
		size += int64(len(a.Name) + len(a.MediaType) + len(a.Description) + 64)
	}
	size += int64(len(view.Doc.Header.Subject) + len(view.Doc.Header.Content))
	for _, b := range inline {
		size += int64(len(b))
	}
	if size > r.maxBytes/4 {
		return // not worth evicting many others for
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID[view.Doc.ID] = &recentDoc{view: view, inline: inline, size: size}
	r.order = append(r.order, view.Doc.ID)
	r.bytes += size
	for len(r.order) > 0 && (r.bytes > r.maxBytes || len(r.byID) > r.maxDocs) {
		id := r.order[0]
		r.order = r.order[1:]
		if e, ok := r.byID[id]; ok {
			delete(r.byID, id)
			r.bytes -= e.size
		}
	}
	if len(r.byID) == 0 {
		r.order = r.order[:0]
	}
}

// get returns a kept document, or nil.
func (r *recentDocs) get(id string) *recentDoc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// drop forgets a document whose stored state changed (recalled, purged).
func (r *recentDocs) drop(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.byID[id]; ok {
		delete(r.byID, id)
		r.bytes -= e.size
	}
}
