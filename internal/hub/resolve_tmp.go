package hub

import "context"

// ResolveCode is a stand-in until aliases land: registered codes only.
func (h *Hub) ResolveCode(ctx context.Context, element, code string) (string, error) {
	h.mu.RLock()
	_, ok := h.index[code]
	h.mu.RUnlock()
	if !ok {
		return "", invalid(element, "%q is not a registered agency or alias", code)
	}
	return code, nil
}
