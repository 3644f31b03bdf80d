-- Reserved for SMS, social and fax (channels/sms, channels/social, channels/fax); filled by its package's work.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
