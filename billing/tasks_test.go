package billing

import (
	"errors"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/cic-platform/cic/infra/testenv"
)

// TestFanOut_DeterministicTaskPerTenantAndPeriod: the hourly overage run
// enqueues one charge per tenant with overage, under an id made of tenant
// and month, so running it again (or on another replica) adds nothing.
func TestFanOut_DeterministicTaskPerTenantAndPeriod(t *testing.T) {
	e := newEnv(t, false)
	a := e.signup(t, "acme")
	quiet := e.signup(t, "quiet")
	period := e.overageLastMonth(t, a.TenantID, 3)

	opt, err := asynq.ParseRedisURI(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	in := asynq.NewInspector(opt)
	defer in.Close()
	want := NewChargeOverageTask(a.TenantID, period)
	id := TypeChargeOverage + ":" + a.TenantID.String() + ":" + period.Format("2006-01")
	t.Cleanup(func() { _ = in.DeleteTask(TasksQueue, id) })

	tasks := &Tasks{Billing: e.Billing, Client: client}
	for range 2 {
		if err := tasks.HandleOverage(ctx(t), periodicTask(TypeOverage, 0)); err != nil {
			t.Fatal(err)
		}
	}
	info, err := in.GetTaskInfo(TasksQueue, id)
	if err != nil {
		t.Fatalf("charge task %s not enqueued: %v", id, err)
	}
	if info.Type != want.Type() || string(info.Payload) != string(want.Payload()) {
		t.Fatalf("task %s %s", info.Type, info.Payload)
	}
	if _, err := client.Enqueue(want); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Fatalf("a second enqueue of the same tenant and month: %v, want a task id conflict", err)
	}
	quietID := TypeChargeOverage + ":" + quiet.TenantID.String() + ":" + period.Format("2006-01")
	if _, err := in.GetTaskInfo(TasksQueue, quietID); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Fatalf("a tenant without overage got a charge task: %v", err)
	}
}
