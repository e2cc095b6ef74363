package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
)

// loopbackOnly accepts an address that listens on loopback only: profiles
// show the process's memory and code paths, never to be served to a
// network. An empty host (":8080") listens on every interface and is
// refused.
func loopbackOnly(addr string) error {
	if addr == "" {
		return errors.New("needs --http-addr")
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http-addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--http-addr %q is not a loopback address (use 127.0.0.1:<port>)", addr)
}

// routePprof mounts net/http/pprof on mux; the package's init registers on
// http.DefaultServeMux, which the gatekeeper never serves.
func routePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
