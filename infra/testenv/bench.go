package testenv

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// P99Millis is the 99th percentile of the latencies, in milliseconds, for
// b.ReportMetric(..., "p99-ms"). It sorts all.
func P99Millis(all []time.Duration) float64 {
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	return float64(all[min(len(all)-1, len(all)*99/100)]) / float64(time.Millisecond)
}

// DeleteKeys removes everything under prefix from the shared test Redis,
// for benchmarks whose keys have no TTL of their own.
func DeleteKeys(tb testing.TB, rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+"*", 5000).Result()
		if err != nil {
			tb.Logf("clean up %s*: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := rdb.Unlink(ctx, keys...).Err(); err != nil {
				tb.Logf("clean up %s*: %v", prefix, err)
				return
			}
		}
		if cursor = next; cursor == 0 {
			return
		}
	}
}
