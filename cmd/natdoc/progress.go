package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressRedraw limits redraws: ten a second is smooth and costs nothing.
const progressRedraw = 100 * time.Millisecond

// progressBar draws "label [=====>      ]  45% 12/64" on standard error. On a
// pipe it stays silent, so logs are not filled with carriage returns.
type progressBar struct {
	w        io.Writer
	tty      bool
	label    string
	minTotal int64 // below this total no bar is drawn
	last     time.Time
	used     bool
}

func newProgressBar(w io.Writer, label string, minTotal int64) *progressBar {
	return &progressBar{w: w, tty: isTerminal(w), label: label, minTotal: minTotal}
}

// update draws done out of total; byte totals are shown in MB.
func (p *progressBar) update(done, total int64) {
	if !p.tty || total <= 0 || total < p.minTotal {
		return
	}
	if done < total && time.Since(p.last) < progressRedraw {
		return
	}
	p.last, p.used = time.Now(), true
	const width = 30
	frac := min(float64(done)/float64(total), 1)
	n := int(frac * width)
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	count := fmt.Sprintf("%d/%d", done, total)
	if total >= 1<<20 {
		count = fmt.Sprintf("%d/%d MB", done>>20, total>>20)
	}
	fmt.Fprintf(p.w, "\r%s [%s] %3.0f%% %s", p.label, bar, frac*100, count)
}

// done erases the bar.
func (p *progressBar) done() {
	if p.used {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
