package tenant

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	cic "github.com/cic-platform/cic"
)

// Limits are the rate limits on the unauthenticated endpoints, per IP and
// per account, shared by every replica through Redis (GCRA).
type Limits struct {
	SignupPerIP     redis_rate.Limit
	SignupPerEmail  redis_rate.Limit
	LoginPerIP      redis_rate.Limit
	LoginPerAccount redis_rate.Limit
}

// DefaultLimits: generous for offices behind one NAT, tight per account.
var DefaultLimits = Limits{
	SignupPerIP:     redis_rate.Limit{Rate: 10, Burst: 10, Period: time.Hour},
	SignupPerEmail:  redis_rate.Limit{Rate: 3, Burst: 3, Period: time.Hour},
	LoginPerIP:      redis_rate.Limit{Rate: 60, Burst: 30, Period: time.Minute},
	LoginPerAccount: redis_rate.Limit{Rate: 10, Burst: 10, Period: 15 * time.Minute},
}

// Limiter enforces Limits. Keys are prefixed so tests never share state.
type Limiter struct {
	rl     *redis_rate.Limiter
	prefix string
	Limits Limits
}

// NewLimiter returns a Limiter storing its counters under prefix.
func NewLimiter(rdb *redis.Client, prefix string, limits Limits) *Limiter {
	return &Limiter{rl: redis_rate.NewLimiter(rdb), prefix: prefix, Limits: limits}
}

// allow takes one token from bucket key; a full bucket gives ERATELIMIT
// with the wait in the message. When Redis is down we refuse (fail
// closed): an attacker must not be able to lift limits by overloading it.
func (l *Limiter) allow(ctx context.Context, key string, lim redis_rate.Limit) error {
	if l == nil || lim.Rate <= 0 {
		return nil
	}
	res, err := l.rl.Allow(ctx, l.prefix+"rl:"+key, lim)
	if err != nil {
		return cic.Codef(cic.EUNAVAILABLE, "rate_limiter_unavailable", "Sign-in is briefly unavailable; try again in a moment.")
	}
	if res.Allowed == 0 {
		secs := int(math.Ceil(res.RetryAfter.Seconds()))
		return &cic.Error{Kind: cic.ERATELIMIT, Code: "rate_limited",
			Message: fmt.Sprintf("Too many attempts; try again in %d seconds.", max(secs, 1))}
	}
	return nil
}
