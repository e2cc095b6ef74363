package localsrv

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSCluster is a cluster of in-process NATS servers with JetStream.
type NATSCluster struct {
	// Servers are the members, in start order; a stopped member stays in
	// place.
	Servers []*server.Server
	// URL lists every member's client URL, comma-separated, for clients
	// that fail over.
	URL string
}

// StartNATSCluster starts n NATS servers in one cluster named "hush", each
// with JetStream in its own directory under dir, and waits until JetStream
// answers (streams with 3 replicas can then be created).
func StartNATSCluster(ctx context.Context, dir string, n int) (*NATSCluster, error) {
	if n < 1 {
		return nil, errors.New("start nats cluster: at least one server")
	}
	routes := make([]string, n)
	ports := make([]int, n)
	for i := range n {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		ports[i], routes[i] = p, "nats-route://127.0.0.1:"+strconv.Itoa(p)
	}
	c := &NATSCluster{}
	var urls []string
	for i := range n {
		o := NATSOptions{
			StoreDir:    filepath.Join(dir, "n"+strconv.Itoa(i)),
			ServerName:  "n" + strconv.Itoa(i),
			ClusterName: "hush",
			ClusterPort: ports[i],
			Routes:      routes,
		}
		ns, err := StartNATS(o)
		if err != nil {
			c.Shutdown()
			return nil, fmt.Errorf("start nats cluster member %d: %w", i, err)
		}
		c.Servers = append(c.Servers, ns)
		urls = append(urls, ns.ClientURL())
	}
	c.URL = strings.Join(urls, ",")
	if err := c.waitJetStream(ctx, 30*time.Second); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// waitJetStream waits until the cluster has a JetStream meta leader.
func (c *NATSCluster) waitJetStream(ctx context.Context, timeout time.Duration) error {
	nc, err := nats.Connect(c.URL)
	if err != nil {
		return fmt.Errorf("nats cluster: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("nats cluster: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats cluster: jetstream not ready after %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop shuts member i down, as a crash of its machine would (its files
// stay for Restart).
func (c *NATSCluster) Stop(i int) {
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
}

// Shutdown stops every member.
func (c *NATSCluster) Shutdown() {
	for _, ns := range c.Servers {
		ns.Shutdown()
	}
	for _, ns := range c.Servers {
		ns.WaitForShutdown()
	}
}
