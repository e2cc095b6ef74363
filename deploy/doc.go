// Package deploy holds what runs Hush outside Go: Dockerfiles, the NATS and
// Redis configuration, Kubernetes manifests and the Grafana dashboard. Its
// tests load each file the way its consumer would and check it.
package deploy
