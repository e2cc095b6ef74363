// Command probe is the health check of Hush's container images, which have
// no shell or curl: it asks one URL and exits 0 on 200 OK, 1 otherwise.
//
//	probe http://127.0.0.1:8080/readyz
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hush-oss/hush/internal/platform/telemetry"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: probe URL")
		os.Exit(2)
	}
	if err := telemetry.Probe(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
