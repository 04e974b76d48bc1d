package report

import (
	"slices"
	"strconv"
	"strings"
)

// maxFrameItems is how many items (single frames or ranges) a frame list
// names before it counts the rest.
const maxFrameItems = 8

// frameList writes frame numbers one way in every report: ranges as
// "313-612", single frames as "3,7,9", consecutive frames folded into a
// range ("3-5"), in ascending order, at most maxFrameItems items and then
// "… +N more".
func frameList(frames []uint64, ranges []FrameRange) string {
	items := make([]FrameRange, 0, len(frames)+len(ranges))
	items = append(items, ranges...)
	sorted := slices.Clone(frames)
	slices.Sort(sorted)
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] <= sorted[j]+1 {
			j++
		}
		items = append(items, FrameRange{First: sorted[i], Last: sorted[j]})
		i = j + 1
	}
	slices.SortStableFunc(items, func(a, b FrameRange) int {
		switch {
		case a.First < b.First:
			return -1
		case a.First > b.First:
			return 1
		}
		return 0
	})
	var b strings.Builder
	for i, r := range items {
		if i == maxFrameItems {
			b.WriteString(",… +" + strconv.Itoa(len(items)-maxFrameItems) + " more")
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(r.First, 10))
		if r.Last > r.First {
			b.WriteString("-" + strconv.FormatUint(r.Last, 10))
		}
	}
	return b.String()
}

// evidenceFrames is an evidence line's frame list ("" when it names none).
func evidenceFrames(e Evidence) string {
	if len(e.Frames) == 0 && len(e.FrameRanges) == 0 {
		return ""
	}
	return frameList(e.Frames, e.FrameRanges)
}

// framesLabel names a frame list as Wireshark's users read it: "frame 3"
// for one frame, "frames 3,7" or "frames 3-5" for more.
func framesLabel(list string) string {
	if strings.ContainsAny(list, ",-") {
		return "frames " + list
	}
	return "frame " + list
}
