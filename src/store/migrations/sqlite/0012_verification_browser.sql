-- A verification link that finishes a provider sign-in works only in the browser that started
-- it (the SHA-256 of that browser's verification cookie). Fraud signals are purged by age.
ALTER TABLE sign_in_tokens ADD COLUMN browser_hash TEXT;
CREATE INDEX fraud_signals_by_time ON fraud_signals (created_at);
