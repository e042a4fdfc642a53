package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp/totp"
)

// client talks GraphQL over HTTP to one server, keeping connections alive.
type client struct {
	url  string
	http *http.Client
}

func newClient(base string) *client {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	return &client{url: base + "/graphql", http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Data   map[string]any `json:"data"`
	Errors []gqlError     `json:"errors"`
}

// do posts one operation; a GraphQL error is an error naming its code.
func (c *client) do(ctx context.Context, token, query string, vars map[string]any) (map[string]any, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r gqlResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
	}
	if len(r.Errors) > 0 {
		return r.Data, fmt.Errorf("%s (%v)", r.Errors[0].Message, r.Errors[0].Extensions["code"])
	}
	return r.Data, nil
}

// dig walks a decoded JSON value by keys.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

const (
	loginOp  = `mutation($in: LoginInput!) { login(input: $in) { status token ticket } }`
	verifyOp = `mutation($in: VerifyFactorInput!) { verifyFactor(input: $in) { status token } }`
)

func (c *client) login(ctx context.Context, username string) (status, token, ticket string, err error) {
	d, err := c.do(ctx, "", loginOp, map[string]any{"in": map[string]any{"organization": orgSlug, "username": username, "password": password}})
	if err != nil {
		return "", "", "", err
	}
	s, _ := dig(d, "login", "status").(string)
	tok, _ := dig(d, "login", "token").(string)
	tic, _ := dig(d, "login", "ticket").(string)
	return s, tok, tic, nil
}

func (c *client) verify(ctx context.Context, ticket string, u totpUser, at time.Time) error {
	code, err := totp.GenerateCode(u.secret, at)
	if err != nil {
		return err
	}
	d, err := c.do(ctx, "", verifyOp, map[string]any{"in": map[string]any{"ticket": ticket, "enrollmentId": u.enrollmentID, "response": map[string]any{"code": code}}})
	if err != nil {
		return err
	}
	if s := dig(d, "verifyFactor", "status"); s != "AUTHENTICATED" {
		return fmt.Errorf("verifyFactor: %v", s)
	}
	return nil
}

// latencies summarizes timed operations.
type latencies struct {
	n        int
	errors   int
	firstErr string
	p50, p99 time.Duration
	rate     float64 // per second over the run
	wall     time.Duration
}

func summarize(ds []time.Duration, errs int, firstErr string, wall time.Duration) latencies {
	l := latencies{n: len(ds), errors: errs, firstErr: firstErr, wall: wall}
	if len(ds) == 0 {
		return l
	}
	slices.Sort(ds)
	l.p50 = ds[len(ds)/2]
	l.p99 = ds[min(len(ds)-1, len(ds)*99/100)]
	l.rate = float64(len(ds)) / wall.Seconds()
	return l
}

// run calls op from conc goroutines until d has passed (or the work runs
// out: op returns errDone) and times each successful call.
func run(conc int, d time.Duration, op func(ctx context.Context, i int) error) latencies {
	ctx := context.Background()
	var mu sync.Mutex
	var all []time.Duration
	var errs atomic.Int64
	var firstErr atomic.Value
	var next atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				t0 := time.Now()
				err := op(ctx, i)
				if err == errDone {
					break
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	fe, _ := firstErr.Load().(string)
	return summarize(all, int(errs.Load()), fe, time.Since(start))
}

var errDone = fmt.Errorf("no more work")

// timeQuery runs one admin query sequentially, a warm-up call then up to
// runs timed ones (at least 3; fewer if they are slow), and returns the last
// answer for the correctness check.
func timeQuery(c *client, token, query string, vars map[string]any, runs int, budget time.Duration) (latencies, map[string]any, error) {
	ctx := context.Background()
	var last map[string]any
	for range 1 {
		d, err := c.do(ctx, token, query, vars)
		if err != nil {
			return latencies{}, nil, err
		}
		last = d
	}
	var ds []time.Duration
	start := time.Now()
	for i := 0; i < runs && (i < 3 || time.Since(start) < budget); i++ {
		t0 := time.Now()
		d, err := c.do(ctx, token, query, vars)
		if err != nil {
			return latencies{}, nil, err
		}
		ds = append(ds, time.Since(t0))
		last = d
	}
	return summarize(ds, 0, "", time.Since(start)), last, nil
}
