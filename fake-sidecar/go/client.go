package sidecarclient

import (
	"context"
	"errors"
	"sync"
)

// ErrClientClosed is returned by a Client after Close.
var ErrClientClosed = errors.New("sidecar client is closed")

// Client holds one worker and replaces it when it dies: a call that finds no
// live worker starts a new one, as section 6 of the protocol describes. It
// is a pool of one; calls are serialised.
type Client struct {
	cfg Config

	mu     sync.Mutex
	worker *Worker
	closed bool
}

// NewClient returns a Client that starts its first worker on the first call.
func NewClient(cfg Config) *Client {
	return &Client{cfg: cfg}
}

// Worker returns the live worker, starting one if there is none.
func (c *Client) Worker(ctx context.Context) (*Worker, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.liveWorkerLocked(ctx)
}

func (c *Client) liveWorkerLocked(ctx context.Context) (*Worker, error) {
	if c.closed {
		return nil, ErrClientClosed
	}
	if c.worker != nil && c.worker.Alive() {
		return c.worker, nil
	}
	c.worker = nil

	worker, err := StartWorker(ctx, c.cfg)
	if err != nil {
		return nil, err
	}
	if _, err := worker.Ping(ctx); err != nil {
		// Ping killed the worker on any failure but an ordinary error
		// response; close it in that case too, since it cannot serve.
		_ = worker.Close()
		return nil, err
	}
	c.worker = worker
	return worker, nil
}

// Ping pings the live worker, starting one if needed.
func (c *Client) Ping(ctx context.Context) (PingResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	worker, err := c.liveWorkerLocked(ctx)
	if err != nil {
		return PingResponse{}, err
	}
	return worker.Ping(ctx)
}

// Load loads a model on the live worker, starting one if needed.
func (c *Client) Load(ctx context.Context, modelPath string) (LoadResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	worker, err := c.liveWorkerLocked(ctx)
	if err != nil {
		return LoadResponse{}, err
	}
	return worker.Load(ctx, modelPath)
}

// Predict runs a batch on the live worker, starting one if needed. A call
// that kills the worker fails; the next call starts a new one.
func (c *Client) Predict(ctx context.Context, in PredictInput) (PredictOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	worker, err := c.liveWorkerLocked(ctx)
	if err != nil {
		return PredictOutput{}, err
	}
	return worker.Predict(ctx, in)
}

// Close stops the worker, if any, and makes further calls fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.worker == nil {
		return nil
	}
	err := c.worker.Close()
	c.worker = nil
	return err
}
