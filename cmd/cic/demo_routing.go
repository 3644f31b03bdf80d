package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

// demoQueue is the demo's queue: chat and e-mail, English required.
const (
	demoQueue = "Support"
	demoSkill = "English"
)

// seedDemoRouting gives the demo a skill, a queue, wrap-up codes and
// routing profiles for the agent and the supervisor, so the desk rings
// as soon as a contact arrives. It only adds what is missing.
func seedDemoRouting(ctx context.Context, svc *tenant.Service, st *setup.Service, log *slog.Logger) error {
	owner, err := demoOwner(ctx, svc, log)
	if err != nil {
		return err
	}
	skill, err := demoSkillID(ctx, st, owner)
	if err != nil {
		return err
	}
	queues, err := st.ListQueues(ctx, owner)
	if err != nil {
		return err
	}
	found := false
	for _, q := range queues {
		found = found || q.Name == demoQueue
	}
	if !found {
		name, cc := demoQueue, demoCostCentre
		if _, err := st.CreateQueue(ctx, owner, setup.QueueInput{Name: &name, Channels: []string{"chat", "email"},
			Skills: []setup.Requirement{{SkillID: skill, MinLevel: 3}}, CostCentre: &cc}); err != nil && !isCode(err, "queue_exists") {
			return fmt.Errorf("demo queue: %w", err)
		}
		log.Info("demo queue created", "queue", demoQueue)
	}
	for _, d := range []setup.Disposition{{Code: "solved", Label: "Solved", Resolved: true},
		{Code: "follow_up", Label: "Needs follow-up", Resolved: false}} {
		if _, err := st.SetDisposition(ctx, owner, d); err != nil {
			return fmt.Errorf("demo disposition: %w", err)
		}
	}
	users, err := listUsersByEmail(ctx, svc, owner)
	if err != nil {
		return err
	}
	for _, r := range []cic.Role{cic.RoleAgent, cic.RoleSupervisor} {
		u, ok := users[demoEmail(r)]
		if !ok {
			continue
		}
		if _, err := st.SetProfile(ctx, owner, u.ID, setup.ProfileInput{Skills: []setup.SkillLevel{{SkillID: skill, Level: 7}},
			Capacity: map[string]int{"chat": 3, "email": 5, "voice": 1, "sms": 3, "social": 3, "fax": 2}}); err != nil {
			return fmt.Errorf("demo routing profile: %w", err)
		}
	}
	return nil
}

// demoSkillID finds or creates the demo skill; a concurrent `cic demo`
// may create it first.
func demoSkillID(ctx context.Context, st *setup.Service, owner tenant.Actor) (uuid.UUID, error) {
	for attempt := 0; attempt < 2; attempt++ {
		skills, err := st.ListSkills(ctx, owner)
		if err != nil {
			return uuid.Nil, err
		}
		for _, s := range skills {
			if s.Name == demoSkill {
				return s.ID, nil
			}
		}
		s, err := st.CreateSkill(ctx, owner, demoSkill)
		if err == nil {
			return s.ID, nil
		}
		if !isCode(err, "skill_exists") {
			return uuid.Nil, fmt.Errorf("demo skill: %w", err)
		}
	}
	return uuid.Nil, fmt.Errorf("demo skill %q: created and not found", demoSkill)
}
