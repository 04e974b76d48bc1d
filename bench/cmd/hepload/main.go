// Command hepload is the HEP agent of bench/hep.sh: it sends the SIP of
// complete calls (INVITE, 100, 180, 200, ACK, BYE, 200: seven messages,
// each call with its own Call-ID) as HEPv3 over UDP at a fixed rate, as a
// busy Kamailio's siptrace would, and prints what it sent as JSON (the
// script measures its CPU). It sends only to the address given (loopback in the
// benchmark).
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net"
	"os"
	"time"

	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/internal/hepgen"
)

// tick is the pacing step: each tick sends rate/1000 messages, so bursts
// stay far below a socket buffer.
const tick = time.Millisecond

type result struct {
	Messages   int     `json:"messages"`
	Calls      int     `json:"calls"`
	Seconds    float64 `json:"seconds"`
	Rate       float64 `json:"rate"`
	SendErrors int     `json:"send_errors"`
}

func main() {
	to := flag.String("to", "127.0.0.1:9060", "HEP collector `ADDR:PORT` (UDP)")
	rate := flag.Int("rate", 50000, "SIP messages per second")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	flag.Parse()
	conn, err := net.Dial("udp", *to)
	if err != nil {
		log.Fatal(err)
	}
	_ = json.NewEncoder(os.Stdout).Encode(send(conn, *rate, *dur))
}

func send(conn net.Conn, rate int, dur time.Duration) result {
	var res result
	per := max(1, rate/int(time.Second/tick))
	start := time.Now()
	next := start
	buf := make([]byte, 0, 2048)
	var call [hepgen.MessagesPerCall]hep.Packet
	i := 0
	for time.Since(start) < dur {
		for k := 0; k < per; k++ {
			if i%hepgen.MessagesPerCall == 0 {
				call = hepgen.Call(res.Calls, time.Now())
				res.Calls++
			}
			p := call[i%hepgen.MessagesPerCall]
			p.Time = time.Now()
			var err error
			if buf, err = hep.AppendV3(buf[:0], &p); err != nil {
				log.Fatal(err)
			}
			if _, err := conn.Write(buf); err != nil {
				res.SendErrors++
			}
			i++
		}
		next = next.Add(tick)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	res.Messages = i
	res.Seconds = time.Since(start).Seconds()
	res.Rate = float64(i) / res.Seconds
	return res
}
