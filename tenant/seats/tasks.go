package seats

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// The worker samples seat usage every minute.
const (
	TypeSample     = "seats:sample"
	SampleSchedule = "@every 1m"
	TasksQueue     = "low"
)

// NewSampleTask is the periodic sampling task. Its fixed ID, kept for
// less than the interval, makes replicas enqueue it once per tick;
// running it twice anyway is harmless (Sample is idempotent).
func NewSampleTask() *asynq.Task {
	return asynq.NewTask(TypeSample, nil, asynq.TaskID(TypeSample), asynq.Queue(TasksQueue),
		asynq.Retention(45*time.Second), asynq.MaxRetry(2), asynq.Timeout(50*time.Second))
}

// HandleSample runs Sample.
func (s *Service) HandleSample(ctx context.Context, _ *asynq.Task) error {
	if err := s.Sample(ctx); err != nil {
		return fmt.Errorf("%s: %w", TypeSample, err)
	}
	return nil
}
