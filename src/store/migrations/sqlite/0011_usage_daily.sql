-- Usage analytics by whole days: what each account paid out per day, kind and feature, kept by
-- the ledger's commits (with the transfers, in their transaction) and filled here from the
-- journal so far.
CREATE TABLE usage_daily (
    day_ms INTEGER NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    feature TEXT NOT NULL,
    amount INTEGER NOT NULL,
    operations INTEGER NOT NULL,
    PRIMARY KEY (day_ms, account_id, kind, feature)
) WITHOUT ROWID;
INSERT INTO usage_daily (day_ms, account_id, kind, feature, amount, operations)
    SELECT created_at - created_at % 86400000, debit_account_id, kind, feature, SUM(amount), COUNT(*)
    FROM transfers GROUP BY 1, 2, 3, 4;
