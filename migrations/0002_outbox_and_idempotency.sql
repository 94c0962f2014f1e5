-- The contract's changes to the seed's schema, and the transactional outbox.

-- Idempotency keys are scoped per user (CONTRACT.md): a global key would let
-- one user's retry replay, and so read, another user's order.
ALTER TABLE orders DROP CONSTRAINT orders_idempotency_key_key;
ALTER TABLE orders ADD CONSTRAINT orders_user_id_idempotency_key_key
    UNIQUE (user_id, idempotency_key);

-- A hash of the request that created the order: a retry with the same key
-- and the same body is replayed, a different body is a conflict, even after
-- the idempotency cache has forgotten the key.
ALTER TABLE orders ADD COLUMN request_fingerprint VARCHAR(64);

-- Events written in the same transaction as the change they report, and
-- relayed to the brokers afterwards (at least once, in id order per order).
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id UUID NOT NULL UNIQUE,
    event_type VARCHAR(50) NOT NULL,
    order_id UUID NOT NULL,
    payload JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ,
    attempts INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX idx_outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX idx_outbox_order_id ON outbox (order_id);
