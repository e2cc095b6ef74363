package client_test

import (
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

func timestampOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
