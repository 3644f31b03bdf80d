// Package social is the social messaging channel (work in progress).
package social

// Service is the social channel of every tenant.
type Service struct{}
