package main

import (
	"net"
	"time"
)

// sipAlive sends one OPTIONS to addr (loopback in tests) and reports
// whether any answer came within 50 ms.
func sipAlive(addr string) bool {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	msg := "OPTIONS sip:" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + c.LocalAddr().String() + ";branch=z9hG4bK-alive;rport\r\n" +
		"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:" + addr + ">\r\nCall-ID: alive-" + c.LocalAddr().String() + "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	c.Write([]byte(msg))
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 2048)
	_, err = c.Read(buf)
	return err == nil
}
