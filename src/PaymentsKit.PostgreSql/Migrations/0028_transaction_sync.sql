-- The sync of due transactions (ITransactionService.SyncDueAsync, run by the Hosting job transactions.sync_due on any
-- number of hosts; docs/orchestration.md, "Syncing due transactions"): a partial index of the transactions that can be
-- due a sync, and one lease row per claimed transaction so concurrent passes take different transactions.
--
-- The index's predicate is TransactionSyncRule.IsDue without the grace period (which moves with the clock): a provider
-- call awaiting its outcome (processing, except an authorization standing with nothing in flight), a pending create that
-- asked to confirm, or a refund in flight (a reserved refund amount). So the index holds only unresolved transactions
-- and recent creates, however many resolved ones the table keeps. Read from the document (no new column: no table
-- rewrite), as the columns are.
CREATE INDEX idx_transactions_sync_due ON transactions (id)
    WHERE deleted_at IS NULL
        AND ((status = 'processing' AND (data ->> 'in_flight_action' IS NOT NULL OR data ->> 'authorized_at' IS NULL))
            OR (status = 'pending' AND data ->> 'confirm_on_create' = 'true')
            OR reserved_refund_amount > 0);

-- A row exists while a pass holds the transaction, or until its deferral (SyncRetryInterval) ends; the next claim
-- replaces an expired one. Ordering claims by it puts transactions never synced first.
CREATE TABLE transaction_sync_leases (
    transaction_id uuid        NOT NULL,
    leased_until   timestamptz NOT NULL,
    CONSTRAINT transaction_sync_leases_pkey PRIMARY KEY (transaction_id)
);
