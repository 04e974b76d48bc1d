package ng

import (
	"context"
	"fmt"
)

// Offer sends the caller's SDP and returns the SDP for the callee (the
// engine's address facing the callee).
func (c *Client) Offer(ctx context.Context, callID, fromTag, sdp string) (string, error) {
	r, err := c.Request(ctx, map[string]any{"command": "offer", "call-id": callID, "from-tag": fromTag, "sdp": sdp})
	if err != nil {
		return "", err
	}
	return replySDP(r, c, "offer")
}

// Answer sends the callee's SDP and returns the SDP for the caller.
func (c *Client) Answer(ctx context.Context, callID, fromTag, toTag, sdp string) (string, error) {
	r, err := c.Request(ctx, map[string]any{"command": "answer", "call-id": callID, "from-tag": fromTag, "to-tag": toTag, "sdp": sdp})
	if err != nil {
		return "", err
	}
	return replySDP(r, c, "answer")
}

// replySDP is the SDP of an offer or answer reply, which must have one.
func replySDP(r map[string]any, c *Client, cmd string) (string, error) {
	s, ok := r["sdp"].(string)
	if !ok || s == "" {
		return "", fmt.Errorf("ng: %s to %s: %w: reply without sdp", cmd, c.addr, ErrBencode)
	}
	return s, nil
}

// Delete ends a call and returns its final counts (the reply of delete
// carries what query would).
func (c *Client) Delete(ctx context.Context, callID, fromTag string) (CallStats, error) {
	r, err := c.Request(ctx, map[string]any{"command": "delete", "call-id": callID, "from-tag": fromTag})
	if err != nil {
		return CallStats{}, err
	}
	return ReadCallStats(r), nil
}

// Query returns a call's counts so far.
func (c *Client) Query(ctx context.Context, callID string) (CallStats, error) {
	r, err := c.Request(ctx, map[string]any{"command": "query", "call-id": callID})
	if err != nil {
		return CallStats{}, err
	}
	return ReadCallStats(r), nil
}

// Ping checks that the engine answers.
func (c *Client) Ping(ctx context.Context) error {
	r, err := c.Request(ctx, map[string]any{"command": "ping"})
	if err != nil {
		return err
	}
	if res, _ := r["result"].(string); res != "pong" {
		return fmt.Errorf("ng: ping to %s: result %q, want pong", c.addr, res)
	}
	return nil
}

// Statistics returns the engine's figures (sessions, packet rates,
// totals since start).
func (c *Client) Statistics(ctx context.Context) (EngineStats, error) {
	r, err := c.Request(ctx, map[string]any{"command": "statistics"})
	if err != nil {
		return EngineStats{}, err
	}
	return ReadEngineStats(r), nil
}
