// Package email is the e-mail channel (work in progress).
package email

// Service is the e-mail channel of every tenant.
type Service struct{}
