-- Retention trims the notification log: attempts, and webhook messages and
-- mails that are no longer pending, older than
-- `retention.notification_log_days`.
CREATE INDEX webhook_attempts_time ON webhook_attempts (attempted_at);
CREATE INDEX webhook_messages_settled ON webhook_messages (updated_at) WHERE state <> 'pending';
CREATE INDEX mails_settled ON mails (updated_at) WHERE state <> 'pending';
