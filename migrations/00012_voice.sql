-- Reserved for calls and IVR menus (channels/voice); filled by its package's work.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
