package stunprobe

import (
	"sync"

	"github.com/natdoc/natdoc/report"
)

// maxAnomalyKinds bounds what a hostile peer can make the probe remember:
// each kind keeps a count and its first detail only.
const maxAnomalyKinds = 16

// anomalies counts datagrams the probe did not believe (malformed, wrong
// FINGERPRINT, unexpected source, unknown transaction).
type anomalies struct {
	mu    sync.Mutex
	kinds []report.Anomaly
}

func (a *anomalies) add(kind, detail string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.kinds {
		if a.kinds[i].Kind == kind {
			a.kinds[i].Count++
			return
		}
	}
	if len(a.kinds) < maxAnomalyKinds {
		a.kinds = append(a.kinds, report.Anomaly{Kind: kind, Count: 1, Detail: printable(detail)})
	}
}

func (a *anomalies) list() []report.Anomaly {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]report.Anomaly(nil), a.kinds...)
}
