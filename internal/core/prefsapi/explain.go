package prefsapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/hush-oss/hush/internal/core/explain"
)

// getExplanation answers GET /v1/intents/{intent}/explanation[?customer=C]
// for staff: the same document as hushctl explain --json (the decision,
// where it was found, and the counters behind it).
func (s *Server) getExplanation(w http.ResponseWriter, r *http.Request, who *Principal) {
	if !who.Staff() {
		forbidden(w, "explain decisions (staff only)")
		return
	}
	id := r.PathValue("intent")
	if id == "" || len(id) > 256 || strings.ContainsAny(id, " \t\r\n") {
		s.failErr(w, r, badField("intent", "invalid intent id"))
		return
	}
	customer := r.URL.Query().Get("customer")
	if customer != "" {
		if err := checkCustomerID(customer); err != nil {
			s.failErr(w, r, err)
			return
		}
	}
	ex, err := s.o.Explainer.Explain(r.Context(), id, customer)
	var nr *explain.NoRecord
	switch {
	case errors.As(err, &nr):
		fail(w, http.StatusNotFound, nr.What)
	case err != nil:
		s.failErr(w, r, err)
	default:
		writeJSON(w, http.StatusOK, ex)
	}
}
