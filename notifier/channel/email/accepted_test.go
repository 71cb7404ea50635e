package email

import (
	"bufio"
	"net"
	"strings"
	"testing"
)

// scriptedRelay is a minimal SMTP peer in test code for one protocol edge
// mailpit cannot produce: it accepts the message (250 after DATA) and then
// fails the RSET that go-mail sends next. It records how many messages it
// accepted.
func scriptedRelay(t *testing.T) (addr string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	count := make(chan int, 1)
	count <- 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				r := bufio.NewReader(c)
				say := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
				say("220 relay ready")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					switch {
					case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
						say("250 relay")
					case strings.HasPrefix(cmd, "DATA"):
						say("354 go ahead")
						for {
							l, err := r.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
						}
						count <- <-count + 1
						say("250 queued")
					case strings.HasPrefix(cmd, "RSET"):
						say("421 closing")
						return
					case strings.HasPrefix(cmd, "QUIT"):
						say("221 bye")
						return
					default:
						say("250 ok")
					}
				}
			}(c)
		}
	}()
	return ln.Addr().String(), func() int { n := <-count; count <- n; return n }
}

// A message the relay accepted is a success even when the connection fails
// right after: reporting an error would make the worker send it again.
func TestSendAcceptedThenResetFails(t *testing.T) {
	addr, accepted := scriptedRelay(t)
	cfg := baseConfig()
	cfg.Addr = addr
	cfg.TLS = TLSNone
	s := newTestSender(t, cfg)
	res, err := s.Send(t.Context(), orderMessage(t, "ada@example.com"))
	if err != nil {
		t.Fatalf("Send after the relay accepted the message: %v", err)
	}
	if res.ProviderID == "" || accepted() != 1 {
		t.Fatalf("result %+v, relay accepted %d messages; want a Message-ID and 1", res, accepted())
	}
}
