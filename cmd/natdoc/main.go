// Command natdoc finds and proves the cause of NAT problems in VoIP
// networks. See the README and docs/ARCHITECTURE.md.
package main

import "os"

func main() {
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
