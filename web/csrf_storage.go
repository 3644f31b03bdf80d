package web

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStorage is fiber.Storage over go-redis, so CSRF tokens are shared
// by every server replica instead of living in one process's memory.
type redisStorage struct {
	rdb    *redis.Client
	prefix string
}

func (r *redisStorage) Get(key string) ([]byte, error) {
	b, err := r.rdb.Get(context.Background(), r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, err
}

func (r *redisStorage) Set(key string, val []byte, exp time.Duration) error {
	if key == "" || len(val) == 0 {
		return nil
	}
	return r.rdb.Set(context.Background(), r.prefix+key, val, exp).Err()
}

func (r *redisStorage) Delete(key string) error {
	return r.rdb.Del(context.Background(), r.prefix+key).Err()
}

// Reset is not offered: dropping every user's form token is never wanted.
func (r *redisStorage) Reset() error { return nil }

func (r *redisStorage) Close() error { return nil }
