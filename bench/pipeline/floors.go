package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// roundTrip is a broker floor: one record at a time, produced (acknowledged
// by the broker) and then read back by a consumer.
type roundTrip struct {
	Label      string
	Records    int
	Ack        latencies // publish call → broker acknowledgement
	RoundTrip  latencies // publish call → consumer has the record
	Throughput float64   // serial records per second
}

// kafkaFloor produces one record at a time (acks=all, idempotent) to a
// fresh one-partition topic and waits until a separate consumer client has
// it before producing the next. The raw floor sets linger 0; with
// asHerald it keeps franz-go's default linger and waits on the Produce
// callback, as Herald's publisher does (ProduceSync would skip the linger).
func kafkaFloor(ctx context.Context, brokers []string, topic string, asHerald bool, d time.Duration) (roundTrip, error) {
	rt := roundTrip{Label: "franz-go, linger 0"}
	popts := []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks())}
	if asHerald {
		rt.Label = "franz-go Produce + callback, default linger (as Herald's publisher)"
	} else {
		popts = append(popts, kgo.ProducerLinger(0))
	}
	prod, err := kgo.NewClient(popts...)
	if err != nil {
		return rt, err
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		return rt, fmt.Errorf("create topic %s: %w", topic, err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return rt, err
	}
	defer cons.Close()

	got := make(chan string, 1)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for pctx.Err() == nil {
			fs := cons.PollFetches(pctx)
			fs.EachRecord(func(r *kgo.Record) {
				select {
				case got <- string(r.Value):
				case <-pctx.Done():
				}
			})
		}
	}()
	return measureRoundTrips(ctx, rt, d, got, "record", func(v string) error {
		acked := make(chan error, 1)
		prod.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}, func(_ *kgo.Record, err error) { acked <- err })
		return <-acked
	})
}

// natsFloor is the same over JetStream: a synchronous publish (waits for
// the stream's ack) and an ordered consumer.
func natsFloor(ctx context.Context, url, name string, d time.Duration) (roundTrip, error) {
	rt := roundTrip{Label: "nats.go JetStream publish (ack) → ordered consumer"}
	nc, err := nats.Connect(url)
	if err != nil {
		return rt, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return rt, err
	}
	subject := name + ".floor"
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage})
	if err != nil {
		return rt, err
	}
	defer func() { _ = js.DeleteStream(context.Background(), name) }()
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return rt, err
	}
	got := make(chan string, 1)
	cctx, cancel := context.WithCancel(ctx)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case got <- string(m.Data()):
		case <-cctx.Done():
		}
	})
	if err != nil {
		cancel()
		return rt, err
	}
	defer func() { cancel(); cc.Stop() }()
	return measureRoundTrips(ctx, rt, d, got, "message", func(v string) error {
		_, err := js.Publish(ctx, subject, []byte(v))
		return err
	})
}

// consumed waits until the consumer feeding got has read v (what names it
// in the error).
func consumed(ctx context.Context, got <-chan string, v, what string) error {
	wait := time.NewTimer(10 * time.Second)
	defer wait.Stop()
	for {
		select {
		case s := <-got:
			if s == v {
				return nil
			}
		case <-wait.C:
			return fmt.Errorf("%s not consumed within 10s", what)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// measureRoundTrips warms up with 20 round trips, then runs them serially
// for d (at most 20,000). A round trip publishes a numbered value (publish
// returns once the broker acknowledged it: the ack time) and waits until
// the consumer feeding got has read it (what names it in errors).
func measureRoundTrips(ctx context.Context, rt roundTrip, d time.Duration, got <-chan string, what string, publish func(v string) error) (roundTrip, error) {
	one := func(i int) (ack, trip time.Duration, err error) {
		v := strconv.Itoa(i)
		t0 := time.Now()
		if err := publish(v); err != nil {
			return 0, 0, err
		}
		ack = time.Since(t0)
		if err := consumed(ctx, got, v, what); err != nil {
			return 0, 0, err
		}
		return ack, time.Since(t0), nil
	}
	i := 0
	for ; i < 20; i++ {
		if _, _, err := one(i); err != nil {
			return rt, fmt.Errorf("warm-up: %w", err)
		}
	}
	t0 := time.Now()
	for time.Since(t0) < d && rt.Records < 20000 {
		ack, trip, err := one(i)
		if err != nil {
			return rt, err
		}
		i++
		rt.Records++
		rt.Ack = append(rt.Ack, ack)
		rt.RoundTrip = append(rt.RoundTrip, trip)
	}
	rt.Throughput = float64(rt.Records) / time.Since(t0).Seconds()
	return rt, nil
}

// commitRate is the PostgreSQL floor: single-row INSERT + COMMIT
// transactions (BEGIN; INSERT; COMMIT, as ent runs them), from conns
// connections at once.
type commitRate struct {
	Conns   int
	Commits int
	PerSec  float64
	Latency latencies // BEGIN → COMMIT returned
}

func pgFloor(ctx context.Context, dsn string, conns int, d time.Duration) (commitRate, error) {
	cr := commitRate{Conns: conns}
	setup, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return cr, err
	}
	table := "floor_" + strconv.Itoa(conns)
	_, err = setup.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (id bigserial PRIMARY KEY, payload text NOT NULL, at timestamptz NOT NULL DEFAULT now())`)
	setup.Close(context.Background())
	if err != nil {
		return cr, err
	}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := make(chan struct{})
	var began time.Time
	for range conns {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return cr, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close(context.Background())
			var local latencies
			<-start
			for time.Since(began) < d && ctx.Err() == nil {
				t0 := time.Now()
				err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, `INSERT INTO `+table+` (payload) VALUES ($1)`, "order-floor")
					return err
				})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			cr.Latency = append(cr.Latency, local...)
			mu.Unlock()
		}()
	}
	began = time.Now()
	close(start)
	wg.Wait()
	cr.Commits = len(cr.Latency)
	cr.PerSec = float64(cr.Commits) / time.Since(began).Seconds()
	return cr, firstErr
}
