package natlab

import (
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
)

// Packet is one packet of a capture a test recorded, decoded by gopacket.
type Packet struct {
	gopacket.Packet
	Time time.Time
}

// ReadPcap decodes every packet of a classic pcap file (what tcpdump -w
// writes), for tests that hold natdoc's reading to gopacket's.
func ReadPcap(t testing.TB, path string) []Packet {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("natlab: %s: %v", path, err)
	}
	var out []Packet
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			return out
		}
		out = append(out, Packet{gopacket.NewPacket(data, r.LinkType(), gopacket.Default), ci.Timestamp})
	}
}
