-- The outbox relay is woken after the writing transaction, not inside it.
--
-- A transaction that NOTIFYs takes a cluster-wide lock just before its
-- commit and keeps it until the commit is flushed to disk (PostgreSQL keeps
-- its notification queue in commit order, src/backend/commands/async.c). With
-- the trigger of migration 0003, every transaction that wrote an outbox row
-- (each order, each applied status event) committed one at a time, one WAL
-- flush each, and group commit never helped. Measured on a 2-CPU machine
-- with pgbench, 16 clients, one INSERT per transaction, a listener connected:
-- 6,400-6,800 tps without NOTIFY, 2,700-3,000 with it, 4,450-4,600 with the
-- NOTIFY moved to wake_outbox_relay() after the commit.
--
-- Writers call wake_outbox_relay() right after their COMMIT, as a
-- transaction of its own. It writes no data, so its commit need not wait for
-- the disk, and it holds the lock for an instant. A wake lost (the writer
-- stopped between the two, or the call failed) delays the events until the
-- relay's interval run; it loses none of them.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION notify_outbox();

CREATE FUNCTION wake_outbox_relay() RETURNS void AS $$
BEGIN
    -- Asynchronous commit only for a transaction that has written nothing
    -- (it has no transaction id yet): called by mistake inside a writing
    -- transaction, this must not make that transaction's commit lossy.
    IF txid_current_if_assigned() IS NULL THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    PERFORM pg_notify('outbox', '');
END
$$ LANGUAGE plpgsql;
