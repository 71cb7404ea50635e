package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// stamps are the times one order passed each stage, from the services' own
// tables (same machine, same clock).
type stamps struct {
	OutboxCreated time.Time // orders: order + outbox row written (in the createOrder transaction)
	Published     time.Time // orders: relay had the broker's ack
	Consumed      time.Time // notifier: handling of the event began (delivery created_at)
	Recorded      time.Time // notifier: inbox + delivery rows committed ("event recorded" log line)
	Sent          time.Time // notifier: SMTP relay accepted the email
}

// readStamps reads the outbox rows of the orders database and the email
// deliveries of the notifier database, keyed by order id.
func readStamps(ctx context.Context, ordersDSN, notifierDSN, topic string) (map[string]*stamps, error) {
	out := map[string]*stamps{}
	byEvent := map[string]*stamps{}
	oc, err := pgx.Connect(ctx, ordersDSN)
	if err != nil {
		return nil, err
	}
	defer oc.Close(context.Background())
	rows, err := oc.Query(ctx, `SELECT id, payload, created_at, published_at FROM outbox_events WHERE topic = $1`, topic)
	if err != nil {
		return nil, fmt.Errorf("orders outbox: %w", err)
	}
	for rows.Next() {
		var id string
		var payload []byte
		var created time.Time
		var published *time.Time
		if err := rows.Scan(&id, &payload, &created, &published); err != nil {
			rows.Close()
			return nil, fmt.Errorf("orders outbox: %w", err)
		}
		var p struct {
			OrderID string `json:"orderId"`
		}
		if json.Unmarshal(payload, &p) != nil || p.OrderID == "" {
			continue
		}
		s := &stamps{OutboxCreated: created}
		if published != nil {
			s.Published = *published
		}
		out[p.OrderID] = s
		byEvent[id] = s
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	nc, err := pgx.Connect(ctx, notifierDSN)
	if err != nil {
		return nil, err
	}
	defer nc.Close(context.Background())
	rows, err = nc.Query(ctx, `SELECT event_id, order_id, created_at, sent_at FROM deliveries WHERE channel = 'email'`)
	if err != nil {
		return nil, fmt.Errorf("notifier deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var eventID, orderID string
		var created time.Time
		var sentAt *time.Time
		if err := rows.Scan(&eventID, &orderID, &created, &sentAt); err != nil {
			return nil, fmt.Errorf("notifier deliveries: %w", err)
		}
		s := byEvent[eventID]
		if s == nil {
			s = out[orderID]
		}
		if s == nil {
			s = &stamps{}
			out[orderID] = s
		}
		s.Consumed = created
		if sentAt != nil {
			s.Sent = *sentAt
		}
	}
	return out, rows.Err()
}

// stage is one segment of the path from the createOrder response to the
// email in mailpit.
type stage struct {
	Name  string
	What  string
	Floor string // the floor it is compared with, if any
	Lat   latencies
}

// breakdown splits each delivered order's end-to-end latency into stages
// that add up to it: response → published → consumed → sent → in mailpit.
// Orders missing a stamp are left out.
func breakdown(orders []orderResult, st map[string]*stamps) []stage {
	stages := []stage{
		{Name: "createOrder call", What: "router → users check → orders commit (client request → response; not part of the end-to-end figure)"},
		{Name: "outbox relay publish", What: "createOrder response → relay has the broker's ack (orders outbox published_at)"},
		{Name: "broker → notifier", What: "published → notifier starts handling the event (delivery created_at)"},
		{Name: "notifier record", What: "users lookup, inbox + delivery commit (→ \"event recorded\" log line)"},
		{Name: "delivery worker + SMTP", What: "worker wake-up and claim, SMTP conversation with STARTTLS (→ sent_at)"},
		{Name: "mailpit store", What: "sent_at → mailpit's received time (negative: sent_at is taken after the relay's reply)"},
		// Diagnostic, not part of the sum: the relay's own share, from the
		// outbox row's timestamp (taken inside the createOrder transaction).
		{Name: "(diagnostic) outbox row → published", What: "outbox created_at → published_at: orders commit, relay wake-up, claim, broker ack"},
	}
	for _, o := range orders {
		if o.Err != nil || o.Arrived.IsZero() {
			continue
		}
		s := st[o.OrderID]
		if s == nil || s.Published.IsZero() || s.Consumed.IsZero() || s.Recorded.IsZero() || s.Sent.IsZero() {
			continue
		}
		stages[0].Lat = append(stages[0].Lat, o.Resp.Sub(o.Start))
		stages[1].Lat = append(stages[1].Lat, s.Published.Sub(o.Resp))
		stages[2].Lat = append(stages[2].Lat, s.Consumed.Sub(s.Published))
		stages[3].Lat = append(stages[3].Lat, s.Recorded.Sub(s.Consumed))
		stages[4].Lat = append(stages[4].Lat, s.Sent.Sub(s.Recorded))
		stages[5].Lat = append(stages[5].Lat, o.Arrived.Sub(s.Sent))
		stages[6].Lat = append(stages[6].Lat, s.Published.Sub(s.OutboxCreated))
	}
	return stages
}

// readRecorded adds the time of the notifier's "event recorded" log line
// (written after the inbox and delivery rows committed) to the stamps,
// matched by order id.
func readRecorded(logPath string, st map[string]*stamps) error {
	f, err := os.Open(logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), `"event recorded"`) {
			continue
		}
		var l struct {
			Time    time.Time `json:"time"`
			Msg     string    `json:"msg"`
			OrderID string    `json:"order_id"`
		}
		if json.Unmarshal(line, &l) != nil || l.Msg != "event recorded" {
			continue
		}
		if s := st[l.OrderID]; s != nil && s.Recorded.IsZero() {
			s.Recorded = l.Time
		}
	}
	return sc.Err()
}

// histogram is one Prometheus histogram series: cumulative bucket counts by
// upper bound, sum and count.
type histogram struct {
	Buckets map[float64]float64
	Sum     float64
	Count   float64
}

// scrapeHistogram reads the series of name whose labels include all of
// want from a Prometheus text endpoint.
func scrapeHistogram(ctx context.Context, url, name string, want map[string]string) (histogram, error) {
	h := histogram{Buckets: map[float64]float64{}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	return parseHistogram(resp.Body, name, want)
}

func parseHistogram(r io.Reader, name string, want map[string]string) (histogram, error) {
	h := histogram{Buckets: map[float64]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		metric, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		labelText, valText, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(labelText, ",") {
			k, v, _ := strings.Cut(kv, "=")
			labels[k] = strings.Trim(v, `"`)
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		val, err := strconv.ParseFloat(strings.Fields(valText)[0], 64)
		if err != nil {
			continue
		}
		switch metric {
		case name + "_bucket":
			le, err := strconv.ParseFloat(labels["le"], 64)
			if err != nil {
				le = math.Inf(1)
			}
			h.Buckets[le] = val
		case name + "_sum":
			h.Sum = val
		case name + "_count":
			h.Count = val
		}
	}
	return h, sc.Err()
}

// minus is the histogram of what happened between an earlier scrape and h.
func (h histogram) minus(before histogram) histogram {
	d := histogram{Buckets: map[float64]float64{}, Sum: h.Sum - before.Sum, Count: h.Count - before.Count}
	for le, v := range h.Buckets {
		d.Buckets[le] = v - before.Buckets[le]
	}
	return d
}

// mean is the average observation, 0 when empty.
func (h histogram) mean() time.Duration {
	if h.Count <= 0 {
		return 0
	}
	return time.Duration(h.Sum / h.Count * float64(time.Second))
}

// quantile estimates the q-quantile (0..1) by linear interpolation inside
// its bucket, as Prometheus's histogram_quantile does.
func (h histogram) quantile(q float64) time.Duration {
	if h.Count <= 0 {
		return 0
	}
	bounds := make([]float64, 0, len(h.Buckets))
	for le := range h.Buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	rank := q * h.Count
	prevBound, prevCount := 0.0, 0.0
	for _, le := range bounds {
		c := h.Buckets[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return time.Duration(prevBound * float64(time.Second))
			}
			frac := 0.0
			if c > prevCount {
				frac = (rank - prevCount) / (c - prevCount)
			}
			return time.Duration((prevBound + frac*(le-prevBound)) * float64(time.Second))
		}
		prevBound, prevCount = le, c
	}
	return time.Duration(prevBound * float64(time.Second))
}
