-- Reserved for e-mail channel (channels/email); filled by its package's work.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
