// Package sms is the SMS channel (work in progress).
package sms

// Service is the SMS channel of every tenant.
type Service struct{}
