// Package chargeback produces finance's chargeback reports: the cost of
// every contact metered in a period, allocated inside the company to cost
// centres, departments, queues, channels, directions, campaigns or agent
// teams, as a per-contact CSV (FinOps FOCUS column names), a CSV of the
// groups and a PDF summary, made in the background by the billing worker.
//
// Its invariant: a report reconciles to the cent. The total is the exact
// value of the period's meter records (bundle value drawn plus overage)
// rounded once to minor units; every contact line and every group gets
// whole minor units by largest-remainder allocation (Plan), so the lines
// sum to the total and the groups are the sums of their lines.
//
// A contact belongs to the period in which it was metered (metered_at),
// the clock billing invoices overage by; its handled time is in the CSV.
// Only the finance and owner roles may ask for, see and download reports.
package chargeback

import (
	"log/slog"
	"time"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// Dimension is what a report groups contacts by.
type Dimension string

// Dimensions of a report.
const (
	// DimCostCentre allocates each contact by precedence: its campaign,
	// else its queue's cost centre, else the handling agent's department's
	// cost centre, else "unallocated".
	DimCostCentre Dimension = "cost_centre"
	// DimDepartment is the department recorded on the contact.
	DimDepartment Dimension = "department"
	DimQueue      Dimension = "queue"
	DimChannel    Dimension = "channel"
	DimDirection  Dimension = "direction"
	DimCampaign   Dimension = "campaign"
	// DimAgentTeam is the handling agent's department; contacts no agent
	// handled (automation) have none.
	DimAgentTeam Dimension = "agent_team"
)

// Dimensions lists every dimension, the default first.
var Dimensions = []Dimension{DimCostCentre, DimDepartment, DimQueue, DimChannel, DimDirection, DimCampaign, DimAgentTeam}

// Valid reports whether d is a known dimension.
func (d Dimension) Valid() bool {
	for _, k := range Dimensions {
		if d == k {
			return true
		}
	}
	return false
}

// Label is the dimension for people.
func (d Dimension) Label() string {
	switch d {
	case DimCostCentre:
		return "Cost centre"
	case DimDepartment:
		return "Department"
	case DimQueue:
		return "Queue"
	case DimChannel:
		return "Channel"
	case DimDirection:
		return "Direction"
	case DimCampaign:
		return "Campaign"
	case DimAgentTeam:
		return "Agent team"
	}
	return string(d)
}

// emptyLabel names the group of contacts without a value.
func (d Dimension) emptyLabel() string {
	switch d {
	case DimCostCentre:
		return "unallocated"
	case DimAgentTeam:
		return "(no agent team)"
	case DimCampaign:
		return "(no campaign)"
	}
	return "(none)"
}

// AllocationRule documents DimCostCentre's precedence, for the report.
const AllocationRule = "Cost centre of a contact: its campaign if it has one, else its queue's cost centre, " +
	"else the cost centre of the handling agent's department, else \"unallocated\"."

// Report statuses.
const (
	StatusQueued  = "queued"
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
)

// Triggers: who asked for a report.
const (
	TriggerRequest = "request"
	TriggerMonthly = "monthly"
)

// Formats of a report's files.
const (
	FormatCSV    = "csv"
	FormatGroups = "groups"
	FormatPDF    = "pdf"
)

// Formats lists the files of a finished report.
var Formats = []string{FormatCSV, FormatGroups, FormatPDF}

// Defaults.
const (
	DefaultRetention = 90 * 24 * time.Hour
	// MaxPeriod bounds a requested period (a leap year and a day).
	MaxPeriod = 367 * 24 * time.Hour
	// DefaultMaxActive is how many reports a tenant may have queued or
	// running at once.
	DefaultMaxActive = 3
)

// CanUse reports whether role may ask for, read and download reports.
func CanUse(r cic.Role) bool { return r.In(cic.RoleFinance, cic.RoleOwner) }

func requireUse(a tenant.Actor) error {
	if !CanUse(a.Role) {
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Only finance and the owner may use chargeback reports.")
	}
	return nil
}

// Service asks for, produces and serves chargeback reports.
type Service struct {
	DB *tenant.DB
	// Store keeps the files; nil means PostgreSQL (DBStore).
	Store Store
	// Jobs enqueues generation on the billing worker; nil: Request fails
	// with 503 (the worker's jobs cannot be queued).
	Jobs Enqueuer
	// Queue is the asynq queue of the generation tasks; "" is TasksQueue.
	Queue string
	// Retention is how long a report and its files are kept; 0 is
	// DefaultRetention.
	Retention time.Duration
	// Mailer tells the requester a report is ready; nil sends nothing.
	Mailer metering.Mailer
	// PublicURL is where users reach the product, for links in e-mail.
	PublicURL string
	// MaxActive caps a tenant's queued and running reports; 0 is
	// DefaultMaxActive.
	MaxActive int
	Logger    *slog.Logger
	Now       func() time.Time
	// Links signs the download links handed out with a report.
	Links Links
	// ProgressEvery is how often a running report's progress is stored;
	// 0 means every 500 ms.
	ProgressEvery time.Duration
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Service) store() Store {
	if s.Store != nil {
		return s.Store
	}
	return DBStore{}
}

func (s *Service) retention() time.Duration {
	if s.Retention > 0 {
		return s.Retention
	}
	return DefaultRetention
}

func (s *Service) queue() string {
	if s.Queue != "" {
		return s.Queue
	}
	return TasksQueue
}

func (s *Service) maxActive() int {
	if s.MaxActive > 0 {
		return s.MaxActive
	}
	return DefaultMaxActive
}

func (s *Service) progressEvery() time.Duration {
	if s.ProgressEvery > 0 {
		return s.ProgressEvery
	}
	return 500 * time.Millisecond
}
