//go:build linux

package natlab

import (
	"context"
	"os/exec"
	"strings"
)

// execNft prepares `nft -f -` inside namespace ns with script on stdin.
func execNft(ctx context.Context, ns, script string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	return cmd
}
