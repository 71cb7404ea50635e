package testenv

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/buildinfo"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mailpitModule is built with `go install` into <repo>/.bin; it is not a dependency of our module.
const (
	mailpitModule  = "github.com/axllent/mailpit"
	mailpitVersion = "v1.33.1"
)

// MailpitServer is an SMTP server that keeps what it receives and shows it through an HTTP API.
// Its SMTP port requires STARTTLS with a certificate signed by the CA in CAFile.
type MailpitServer struct {
	// SMTPAddr is host:port of the SMTP listener.
	SMTPAddr string
	// APIURL is the HTTP base URL (the API lives below /api/v1).
	APIURL string
	// CAFile is a PEM file with the CA that signed the SMTP certificate (for localhost and
	// 127.0.0.1).
	CAFile string
	// Dir holds the certificates, database and mailpit.log (empty when given by environment).
	Dir string

	private bool
	proc    *Proc
	http    *http.Client
}

// MailMessage is one received mail.
type MailMessage struct {
	ID        string // mailpit's database id
	MessageID string // the Message-ID header, without angle brackets
	From      string
	To        []string // addresses only
	Subject   string
	Text      string // the text/plain body
	HTML      string
}

// MailChaosTrigger makes mailpit's SMTP server answer ErrorCode (400-599) at one stage with
// Probability percent (0 turns it off).
type MailChaosTrigger struct {
	ErrorCode   int
	Probability int
}

// MailChaos sets the failures for each SMTP stage: MAIL FROM, RCPT TO and AUTH.
type MailChaos struct {
	Sender         MailChaosTrigger
	Recipient      MailChaosTrigger
	Authentication MailChaosTrigger
}

var sharedMailpit shared[*MailpitServer]

// Mailpit returns the mailpit shared by this test process: the one named by
// HERALD_TEST_MAILPIT_SMTP, _API and _CA, else one started on first use. Other tests (and other
// packages) send to it too: use unique recipient addresses and read with Messages(ctx, to).
// Clear and SetChaos need a private one (NewMailpit).
func Mailpit(t testing.TB) *MailpitServer {
	t.Helper()
	smtpAddr, api, ca := os.Getenv(EnvMailpitSMTP), os.Getenv(EnvMailpitAPI), os.Getenv(EnvMailpitCA)
	if smtpAddr != "" || api != "" || ca != "" {
		if smtpAddr == "" || api == "" || ca == "" {
			t.Fatalf("testenv: set all of %s, %s and %s, or none", EnvMailpitSMTP, EnvMailpitAPI, EnvMailpitCA)
		}
		return MailpitAt(smtpAddr, api, ca)
	}
	return sharedMailpit.get(t, "mailpit", EnvMailpitSMTP, func(ctx context.Context) (*MailpitServer, func(), error) {
		m, err := StartMailpit(ctx)
		if err != nil {
			return nil, nil, err
		}
		return m, func() { _ = m.Close() }, nil
	})
}

// MailpitAt is a client of a mailpit started elsewhere (SMTP host:port, API base URL, CA
// file), such as the one testinfra exports in HERALD_TEST_MAILPIT_*.
func MailpitAt(smtpAddr, api, ca string) *MailpitServer {
	return &MailpitServer{SMTPAddr: smtpAddr, APIURL: strings.TrimRight(api, "/"), CAFile: ca, http: &http.Client{Timeout: 30 * time.Second}}
}

// NewMailpit starts a mailpit for this test alone, stopped in t.Cleanup. Clear, SetChaos, Stop
// and Start work on it.
func NewMailpit(t testing.TB) *MailpitServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m, err := StartMailpit(ctx)
	if err != nil {
		unavailable(t, "mailpit", err)
	}
	m.private = true
	t.Cleanup(func() {
		if t.Failed() {
			m.stop()
			keepDir(m.Dir)
			t.Logf("testenv: mailpit files kept in %s", m.Dir)
			return
		}
		_ = m.Close()
	})
	return m
}

// StartMailpit builds mailpit if needed, makes a CA and a server certificate, and runs mailpit on
// free loopback ports with STARTTLS required and the chaos API enabled.
func StartMailpit(ctx context.Context) (*MailpitServer, error) {
	bin, err := mailpitBinary(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := newDir("mailpit")
	if err != nil {
		return nil, err
	}
	m := &MailpitServer{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), http: &http.Client{Timeout: 30 * time.Second}}
	if err := writeCerts(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	smtpPort, httpPort := ports[0], ports[1]
	m.SMTPAddr = "127.0.0.1:" + strconv.Itoa(smtpPort)
	m.APIURL = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	cmd := exec.Command(bin,
		"--database", filepath.Join(dir, "mailpit.db"),
		"--listen", "127.0.0.1:"+strconv.Itoa(httpPort),
		"--smtp", m.SMTPAddr,
		"--smtp-require-starttls",
		"--smtp-tls-cert", filepath.Join(dir, "cert.pem"),
		"--smtp-tls-key", filepath.Join(dir, "key.pem"),
		"--smtp-disable-rdns",
		"--enable-chaos",
		"--disable-version-check",
		"--max", "0", // keep every message: load tests send more than the default 500
	)
	cmd.Dir = dir
	if err := m.run(ctx, cmd); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *MailpitServer) run(ctx context.Context, cmd *exec.Cmd) error {
	p, err := StartProc("mailpit", cmd, filepath.Join(m.Dir, "mailpit.log"), nil)
	if err != nil {
		return err
	}
	m.proc = p
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = poll(ctx, p, func(ctx context.Context) error {
		if err := m.get(ctx, "/api/v1/info", nil); err != nil {
			return err
		}
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.SMTPAddr)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		p.Kill()
		keepDir(m.Dir)
		return fmt.Errorf("mailpit: %w (files in %s)\n%s", err, m.Dir, logTail(p.LogPath, 15))
	}
	return nil
}

// Messages returns the mails addressed to `to` (exact address), oldest first.
func (m *MailpitServer) Messages(ctx context.Context, to string) ([]MailMessage, error) {
	var found struct {
		Messages []struct{ ID string } `json:"messages"`
	}
	q := url.Values{"query": {`to:"` + to + `"`}, "limit": {"10000"}}
	if err := m.get(ctx, "/api/v1/search?"+q.Encode(), &found); err != nil {
		return nil, err
	}
	out := make([]MailMessage, 0, len(found.Messages))
	for i := len(found.Messages) - 1; i >= 0; i-- { // mailpit answers newest first
		mm, err := m.Message(ctx, found.Messages[i].ID)
		if err != nil {
			return nil, err
		}
		out = append(out, mm)
	}
	return out, nil
}

// MailSummary is one message as mailpit's list shows it.
type MailSummary struct {
	ID        string // mailpit's id: one per stored copy
	MessageID string
	To        []string // addresses only
	Subject   string
	Snippet   string
	Created   time.Time // when mailpit received it
}

// MailPage is one page of mailpit's list, newest message first.
type MailPage struct {
	Total    int // messages stored
	Messages []MailSummary
}

// List reads limit messages from the start-th newest on.
func (m *MailpitServer) List(ctx context.Context, start, limit int) (MailPage, error) {
	var r struct {
		Total    int `json:"total"`
		Messages []struct {
			ID, MessageID, Subject, Snippet string
			Created                         time.Time
			To                              []struct{ Address string }
		} `json:"messages"`
	}
	q := url.Values{"start": {strconv.Itoa(start)}, "limit": {strconv.Itoa(limit)}}
	if err := m.get(ctx, "/api/v1/messages?"+q.Encode(), &r); err != nil {
		return MailPage{}, err
	}
	page := MailPage{Total: r.Total, Messages: make([]MailSummary, 0, len(r.Messages))}
	for _, msg := range r.Messages {
		s := MailSummary{ID: msg.ID, MessageID: msg.MessageID, Subject: msg.Subject, Snippet: msg.Snippet, Created: msg.Created}
		for _, a := range msg.To {
			s.To = append(s.To, a.Address)
		}
		page.Messages = append(page.Messages, s)
	}
	return page, nil
}

// All reads every stored message, page by page. Mailpit lists newest first, so a page
// boundary moves while mail arrives: copies are keyed by mailpit id, and a count is exact
// only once nothing more can arrive.
func (m *MailpitServer) All(ctx context.Context) ([]MailSummary, error) {
	const pageSize = 250
	seen := map[string]bool{}
	var out []MailSummary
	for start := 0; ; start += pageSize {
		page, err := m.List(ctx, start, pageSize)
		if err != nil {
			return nil, err
		}
		for _, msg := range page.Messages {
			if !seen[msg.ID] {
				seen[msg.ID] = true
				out = append(out, msg)
			}
		}
		if len(page.Messages) < pageSize || start+pageSize >= page.Total {
			return out, nil
		}
	}
}

// Count is the number of stored messages.
func (m *MailpitServer) Count(ctx context.Context) (int, error) {
	page, err := m.List(ctx, 0, 1)
	return page.Total, err
}

// Message reads one stored message by mailpit id.
func (m *MailpitServer) Message(ctx context.Context, id string) (MailMessage, error) {
	var msg struct {
		ID, MessageID, Subject, Text, HTML string
		From                               *struct{ Address string }
		To                                 []struct{ Address string }
	}
	if err := m.get(ctx, "/api/v1/message/"+url.PathEscape(id), &msg); err != nil {
		return MailMessage{}, err
	}
	mm := MailMessage{ID: msg.ID, MessageID: msg.MessageID, Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML}
	if msg.From != nil {
		mm.From = msg.From.Address
	}
	for _, a := range msg.To {
		mm.To = append(mm.To, a.Address)
	}
	return mm, nil
}

// Headers reads one stored message's headers by mailpit id.
func (m *MailpitServer) Headers(ctx context.Context, id string) (http.Header, error) {
	var h http.Header
	err := m.get(ctx, "/api/v1/message/"+url.PathEscape(id)+"/headers", &h)
	return h, err
}

// Clear deletes every stored message (private mailpit only).
func (m *MailpitServer) Clear(ctx context.Context) error {
	if !m.private {
		return errors.New("testenv: Mailpit.Clear would delete other tests' mail: use testenv.NewMailpit")
	}
	return m.do(ctx, http.MethodDelete, "/api/v1/messages", nil, nil)
}

// SetChaos sets SMTP failures (private mailpit only); MailChaos{} turns them all off.
func (m *MailpitServer) SetChaos(ctx context.Context, c MailChaos) error {
	if !m.private {
		return errors.New("testenv: Mailpit.SetChaos would break other tests' mail: use testenv.NewMailpit")
	}
	// mailpit reads a zero ErrorCode as "default"; keep ours explicit where a trigger is off.
	for _, tr := range []*MailChaosTrigger{&c.Sender, &c.Recipient, &c.Authentication} {
		if tr.Probability == 0 && tr.ErrorCode == 0 {
			tr.ErrorCode = 451
		}
	}
	return m.do(ctx, http.MethodPut, "/api/v1/chaos", c, nil)
}

// Stop ends a private mailpit (SMTP connections are refused until Start); mail is kept.
func (m *MailpitServer) Stop(t testing.TB) {
	t.Helper()
	if !m.private {
		t.Fatal("testenv: Mailpit.Stop needs a private mailpit (testenv.NewMailpit)")
	}
	m.stop()
}

// Start runs a stopped private mailpit again on the same ports and database.
func (m *MailpitServer) Start(t testing.TB) {
	t.Helper()
	if !m.private || m.proc == nil {
		t.Fatal("testenv: Mailpit.Start needs a private mailpit (testenv.NewMailpit)")
	}
	if gone, _ := m.proc.exited(); !gone {
		t.Fatal("testenv: Mailpit.Start: still running")
	}
	old := m.proc.cmd
	cmd := exec.Command(old.Path, old.Args[1:]...)
	cmd.Dir = old.Dir
	if err := m.run(context.Background(), cmd); err != nil {
		t.Fatalf("testenv: restart mailpit: %v", err)
	}
}

func (m *MailpitServer) stop() {
	if m.proc != nil {
		m.proc.Signal(syscall.SIGTERM, 10*time.Second)
	}
}

// Close stops mailpit and removes its folder; a no-op for one given by environment.
func (m *MailpitServer) Close() error {
	if m.Dir == "" {
		return nil
	}
	m.stop()
	return removeDir(m.Dir)
}

func (m *MailpitServer) get(ctx context.Context, path string, out any) error {
	return m.do(ctx, http.MethodGet, path, nil, out)
}

func (m *MailpitServer) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, m.APIURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("mailpit %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// MailpitBinary returns <repo>/.bin/mailpit, building the pinned version first when it is
// missing or another version. Builds from parallel test processes are serialised by a lock file.
func MailpitBinary(ctx context.Context) (string, error) { return mailpitBinary(ctx) }

func mailpitBinary(ctx context.Context) (string, error) {
	return toolBinary(ctx, "mailpit", mailpitCurrent, func(goBin, binDir string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, goBin, "install", mailpitModule+"@"+mailpitVersion)
		cmd.Dir = os.TempDir() // outside our module: mailpit's own go.mod decides its dependencies
		cmd.Env = append(withoutEnv(os.Environ(), "GOFLAGS", "GOBIN"), "GOBIN="+binDir)
		return cmd
	})
}

// toolBinary returns <repo>/.bin/<name>, building it with the command build makes when current
// says the file there is missing or another version. Builds from parallel test processes are
// serialised by a lock file.
func toolBinary(ctx context.Context, name string, current func(bin string) bool, build func(goBin, binDir string) *exec.Cmd) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(root, ".bin")
	bin := filepath.Join(binDir, name)
	if current(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(binDir, "."+name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if current(bin) { // another process built it while we waited
		return bin, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building %s needs the go command on PATH: %w", name, err)
	}
	if out, err := build(goBin, binDir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	if !current(bin) {
		return "", fmt.Errorf("built %s, but %s is not the version wanted", name, bin)
	}
	return bin, nil
}

func mailpitCurrent(bin string) bool {
	info, err := buildinfo.ReadFile(bin)
	return err == nil && info.Main.Path == mailpitModule && info.Main.Version == mailpitVersion
}

func withoutEnv(env []string, names ...string) []string {
	out := env[:0:0]
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// writeCerts makes a CA (ca.pem) and a server certificate for localhost, 127.0.0.1 and ::1
// signed by it (cert.pem, key.pem) in dir.
func writeCerts(dir string) error {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "Herald test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	files := []struct {
		name, typ string
		der       []byte
	}{
		{"ca.pem", "CERTIFICATE", caDER},
		{"cert.pem", "CERTIFICATE", leafDER},
		{"key.pem", "PRIVATE KEY", keyDER},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}
