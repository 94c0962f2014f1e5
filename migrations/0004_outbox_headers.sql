-- What ties an event to the request that caused it: the headers the outbox
-- relay publishes with the event (AMQP headers, Kafka record headers), e.g.
-- {"x-request-id": "...", "traceparent": "00-...-...-01"}.
--
-- A JSON object of string -> string rather than one column per header: the
-- relay copies it as it is, so carrying another header later (tracestate,
-- baggage) needs no migration and no relay change. Written in the same
-- statement as the event, so it is as durable as the event itself. Existing
-- rows, and writers that know no headers, get '{}'.
ALTER TABLE outbox ADD COLUMN headers JSONB NOT NULL DEFAULT '{}'::jsonb
    CONSTRAINT outbox_headers_is_object CHECK (jsonb_typeof(headers) = 'object');
