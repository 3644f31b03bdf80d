package main

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
)

// TestFixedIDPeriodicTask shows the two halves of the periodic-task
// design on a real Redis: a fixed task ID refuses a second enqueue (what
// keeps replicas from doubling the job), and freeArchived frees an ID held
// by an archived run (what keeps one bad run from stopping the schedule).
func TestFixedIDPeriodicTask(t *testing.T) {
	opt, err := asynq.ParseRedisURI(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	// A queue and ID of this test's own, so no worker anywhere takes it.
	prefix := strings.TrimSuffix(testenv.Prefix(), ":")
	queue, id := prefix+"-q", prefix+"-id"
	p := periodic{spec: "@every 1h", task: asynq.NewTask("test:periodic", nil, asynq.TaskID(id), asynq.Queue(queue)), queue: queue, id: id}

	client := asynq.NewClient(opt)
	defer client.Close()
	in := asynq.NewInspector(opt)
	defer in.Close()
	t.Cleanup(func() { _ = in.DeleteQueue(queue, true) })

	if _, err := client.Enqueue(p.task); err != nil {
		t.Fatalf("first enqueue: %v", err)
	}
	if _, err := client.Enqueue(p.task); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Fatalf("second enqueue: err = %v, want ErrTaskIDConflict", err)
	}

	free := freeArchived(in, []periodic{p}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	free(p.task, nil)
	if info, err := in.GetTaskInfo(queue, id); err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("a pending run must be left alone: %v, %v", info, err)
	}

	if err := in.ArchiveTask(queue, id); err != nil {
		t.Fatalf("archive: %v", err)
	}
	if _, err := client.Enqueue(p.task); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Fatalf("enqueue over an archived run: err = %v, want ErrTaskIDConflict", err)
	}
	free(p.task, nil)
	if _, err := in.GetTaskInfo(queue, id); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Fatalf("archived run still there after freeArchived: %v", err)
	}
	if _, err := client.Enqueue(p.task); err != nil {
		t.Fatalf("enqueue after freeArchived: %v", err)
	}
}

// TestPeriodicTasks: the worker must serve the queue of every periodic
// task and have a handler for it, or the schedule would fill Redis with
// tasks nobody runs.
func TestPeriodicTasks(t *testing.T) {
	mux := taskMux(&tenant.Service{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, p := range periodicTasks() {
		if _, ok := queues[p.queue]; !ok {
			t.Errorf("%s: queue %q is not one the worker serves", p.task.Type(), p.queue)
		}
		if _, pattern := mux.Handler(p.task); pattern == "" {
			t.Errorf("%s: no handler in the worker's mux", p.task.Type())
		}
	}
}
