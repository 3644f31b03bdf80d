package infra

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// OpenRedis connects to the Redis at url (redis://host:port/db) and checks
// that it answers.
func OpenRedis(ctx context.Context, url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	c := redis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("ping redis: %w", err)
	}
	return c, nil
}
