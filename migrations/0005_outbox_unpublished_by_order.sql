-- Relays run side by side (several per host, several hosts), each taking the
-- oldest unpublished rows that no other relay holds (FOR UPDATE SKIP LOCKED).
-- A row is taken only when no earlier row of its order is still unpublished,
-- so one order's events leave in the order they were written; this index
-- answers that question from the unpublished rows alone.
CREATE INDEX idx_outbox_unpublished_by_order ON outbox (order_id, id) WHERE published_at IS NULL;
