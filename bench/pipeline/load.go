package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

// registerUsers makes n users with email on (SMS off) and returns their ids
// and addresses.
func registerUsers(ctx context.Context, c *testenv.GraphQLClient, runID string, n int) (ids, emails []string, err error) {
	for i := range n {
		email := fmt.Sprintf("bench-%s-%d@example.com", runID, i)
		var r struct {
			RegisterUser struct{ ID string } `json:"registerUser"`
		}
		err := c.Try(ctx, `mutation($in: RegisterUserInput!){ registerUser(input: $in){ id } }`,
			map[string]any{"in": map[string]any{
				"name": fmt.Sprintf("Bench %d", i), "email": email,
				// The operator registers each user under a subject of its own.
				"subject":     fmt.Sprintf("bench-%s-%d", runID, i),
				"preferences": map[string]any{"email": true, "sms": false},
			}}, &r)
		if err != nil {
			return nil, nil, fmt.Errorf("registerUser %d: %w", i, err)
		}
		ids, emails = append(ids, r.RegisterUser.ID), append(emails, email)
	}
	return ids, emails, nil
}

const createOrderQuery = `mutation($in: CreateOrderInput!){ createOrder(input: $in){ id } }`

func createOrder(ctx context.Context, c *testenv.GraphQLClient, userID string) (string, error) {
	var r struct {
		CreateOrder struct{ ID string } `json:"createOrder"`
	}
	err := c.Try(ctx, createOrderQuery, map[string]any{"in": map[string]any{
		"userId":   userID,
		"currency": "EUR",
		"items": []map[string]any{
			{"sku": "TEA-1", "name": "Green tea", "quantity": 2, "unitPriceMinor": 450},
			{"sku": "MUG-9", "name": "Mug", "quantity": 1, "unitPriceMinor": 1200},
		},
	}}, &r)
	if err == nil && r.CreateOrder.ID == "" {
		err = errors.New("createOrder answered no id")
	}
	return r.CreateOrder.ID, err
}

// sent is one createOrder call.
type sent struct {
	Scheduled time.Time // when the open-loop schedule wanted it sent
	Start     time.Time // when it was sent
	Resp      time.Time // when the response was read
	OrderID   string
	Err       error
}

// openLoop sends rate createOrder calls per second for d, each at its
// scheduled time whatever the earlier ones are doing (open loop: a slow
// system gets no breather, as with real users). At most maxInFlight calls
// wait at once; a call that would exceed it is counted as an error, so a
// stuck system cannot pile up unbounded goroutines. onResp sees every
// successful response as it arrives.
func openLoop(ctx context.Context, c *testenv.GraphQLClient, users []string, rate float64, d time.Duration, maxInFlight int, onResp func(sent)) []sent {
	n := int(rate*d.Seconds() + 0.5)
	out := make([]sent, n)
	var wg sync.WaitGroup
	var inFlight atomic.Int64
	interval := time.Duration(float64(time.Second) / rate)
	t0 := time.Now()
	for i := range n {
		at := t0.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			select {
			case <-ctx.Done():
				return out[:i]
			case <-time.After(wait):
			}
		}
		out[i].Scheduled = at
		if inFlight.Load() >= int64(maxInFlight) {
			out[i].Start = time.Now()
			out[i].Resp = out[i].Start
			out[i].Err = fmt.Errorf("not sent: %d calls already in flight", maxInFlight)
			continue
		}
		inFlight.Add(1)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer inFlight.Add(-1)
			s := &out[i]
			s.Start = time.Now()
			s.OrderID, s.Err = createOrder(ctx, c, users[i%len(users)])
			s.Resp = time.Now()
			if s.Err == nil && onResp != nil {
				onResp(*s)
			}
		}(i)
	}
	wg.Wait()
	return out
}
