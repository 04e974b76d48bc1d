package main

import (
	"testing"
	"time"
)

func TestDiagnoseUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"diagnose", "--rtp-ports", "20000-10000"},
		{"diagnose", "--rtp-ports", "abc"},
		{"diagnose", "--sip-port", "0"},
		{"diagnose", "--stun", "nohostport"},
		{"diagnose", "--mirror", "noport"},
		{"diagnose", "--timeout", "10ms"},
		{"diagnose", "--upnp-limit", "5", "--no-upnp"},
		{"diagnose", "extra-arg"},
		{"diagnose", "--stun", "203.0.113.10:3478", "--no-stun"},
		{"mirror", "--listen", "not an address"},
	} {
		if code, _, errOut := run(t, args...); code != exitUsage {
			t.Errorf("natdoc %v: exit %d, want %d (stderr %q)", args, code, exitUsage, errOut)
		}
	}
}

func TestDiagnoseOptions(t *testing.T) {
	o := diagnoseOptions{SIPPort: 5060, RTPPorts: "10000-20000", STUN: []string{"203.0.113.10:3478"}}
	opt, err := o.options(false)
	if err != nil {
		t.Fatal(err)
	}
	if opt.RTPLow != 10000 || opt.RTPHigh != 20000 || !opt.CheckForwarding || opt.Timeout != 10*time.Second {
		t.Errorf("options %+v", opt)
	}
	o = diagnoseOptions{SIPPort: 5060, Lifetime: true}
	if opt, _ := o.options(false); opt.CheckForwarding || opt.Timeout != lifetimeTimeout || len(opt.STUN) == 0 {
		t.Errorf("options %+v: want the default STUN servers", opt)
	}
	o = diagnoseOptions{SIPPort: 5060, NoSTUN: true}
	if opt, _ := o.options(false); len(opt.STUN) != 0 {
		t.Errorf("--no-stun still asks %v", opt.STUN)
	}
}
