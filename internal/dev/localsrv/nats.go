// Package localsrv starts the servers Hush needs on one machine: an
// in-process NATS server with JetStream (the version pinned in go.mod) and a
// private redis-server process. `make run` and the test environment use it.
package localsrv

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSOptions configure an in-process NATS server.
type NATSOptions struct {
	// Host defaults to 127.0.0.1.
	Host string
	// Port 0 picks a free port; server.RANDOM_PORT likewise.
	Port int
	// StoreDir holds JetStream's files; required.
	StoreDir string
	// ServerName, Cluster and Routes form a cluster when set.
	ServerName  string
	ClusterName string
	ClusterPort int
	Routes      []string
	// ConfigFile, when set, is loaded first (accounts, permissions); the
	// fields above override it.
	ConfigFile string
}

// StartNATS starts a NATS server with JetStream in this process and waits
// until it accepts connections.
func StartNATS(o NATSOptions) (*server.Server, error) {
	opts := &server.Options{}
	if o.ConfigFile != "" {
		var err error
		if opts, err = server.ProcessConfigFile(o.ConfigFile); err != nil {
			return nil, fmt.Errorf("nats config %s: %w", o.ConfigFile, err)
		}
	}
	opts.Host = o.Host
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	opts.Port = o.Port
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	opts.JetStream = true
	opts.StoreDir = o.StoreDir
	opts.NoSigs = true
	opts.NoLog = true
	opts.ServerName = o.ServerName
	if o.ClusterName != "" {
		opts.Cluster.Name = o.ClusterName
		opts.Cluster.Host = opts.Host
		opts.Cluster.Port = o.ClusterPort
		opts.Routes = server.RoutesFromStr(joinComma(o.Routes))
	}
	if opts.StoreDir == "" {
		return nil, errors.New("start nats: a JetStream store directory is required")
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("start nats: not ready after 10s")
	}
	return ns, nil
}

// PortFree reports whether a TCP port on host can be listened on.
func PortFree(host string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func joinComma(s []string) string {
	out := ""
	for i, r := range s {
		if i > 0 {
			out += ","
		}
		out += r
	}
	return out
}
