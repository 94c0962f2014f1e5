#!/usr/bin/env python3
"""Helpers of bench/messaging.sh (a benchmark, not a test).

Subcommands:
  amqp-listen    bind an exclusive, auto-delete queue to an exchange
                 (orders.created, key order.created); write "event_id
                 arrival_epoch" lines (the default; with
                 BENCH_AMQP_LISTENER=native bench/listeners' amqp-listener
                 does this)
  kafka-listen   read order-events from its end, without a consumer group;
                 write "event_id arrival_epoch record_timestamp_ms" lines
                 (only with BENCH_KAFKA_LISTENER=python: by default
                 bench/listeners' kafka-listener, native, does this)
  sample-backlog every second, the outbox backlog (published_at IS NULL)
  report         commit-to-arrival figures from what the above wrote
  consumer       consumer throughput, live: orders in the database, status
                 events (with exact duplicates) published to the consumed
                 queues while the host consumes, timed until it has handled
                 every one
  consumer-fill  consumer throughput, prefilled, while no host runs: the same
                 orders and events, published, and the queues' depths checked
  consumer-drain the prefilled run once the host is started: timed on the
                 host's log, first "consuming" to last "message handled"
  delete-queues  delete the bench's queues (and their retry/dead-letter queues)
  cpu-snapshot   every thread's CPU time and run-queue wait so far, with its
                 program (from /proc/<pid>/task/*/schedstat)
  cpu-share      per second between two snapshots, summed by program: time
                 on a CPU and waiting for one (printed for the POST load and
                 for the prefilled consumer run)

Needs pika and kafka-python (bench/messaging.sh installs them in a venv),
psql on PATH and RabbitMQ's address in BENCH_AMQP_URL (bench/lib.sh). Times
are the system's real-time clock, which the host, the database and these
processes share (one machine).
"""

import argparse
import calendar
import glob
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid

EVENT_ID = re.compile(rb'"event_id"\s*:\s*"([0-9a-fA-F-]{36})"')

stopping = False


def stop_on_signal():
    def handler(_signum, _frame):
        global stopping
        stopping = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def psql_binary():
    """psql itself, not Debian's `psql`: that is a Perl wrapper whose start-up
    cost more CPU than the query, taken from the host being measured (a
    profile of the consumer run showed it)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))
    return found[-1] if found else "psql"


PSQL = psql_binary()


def psql(db, sql, stdin=None):
    """Runs one statement through psql; returns its unaligned output."""
    out = subprocess.run(
        [PSQL, "-h", "127.0.0.1", "-U", "root", "-d", db, "-X", "-q", "-At", "-F", " ",
         "-v", "ON_ERROR_STOP=1", "-c", sql],
        input=stdin, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"messaging.py: psql failed: {out.stderr.strip()} ({sql[:80]}...)")
    return out.stdout


def amqp_connection():
    import pika

    return pika.BlockingConnection(pika.URLParameters(os.environ["BENCH_AMQP_URL"]))


def touch(path):
    with open(path, "w", encoding="utf-8") as f:
        f.write("ready\n")


# ---------------------------------------------------------------- listeners

def amqp_listen(args):
    stop_on_signal()
    out = open(args.out, "w", encoding="utf-8", buffering=1 << 16)

    def on_message(_ch, _method, properties, body):
        now = time.time()
        event_id = properties.message_id
        if not event_id:
            m = EVENT_ID.search(body)
            event_id = m.group(1).decode() if m else "?"
        out.write(f"{event_id} {now:.6f}\n")

    # Reconnects (and binds a new queue) if the broker goes away: while no
    # queue is bound the relay is refused and retries, so nothing is lost.
    while not stopping:
        try:
            connection = amqp_connection()
            channel = connection.channel()
            queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
            channel.queue_bind(queue, args.exchange, routing_key=args.routing_key)
            channel.basic_qos(prefetch_count=2000)
            channel.basic_consume(queue, on_message, auto_ack=True)
            touch(args.ready)
            while not stopping:
                connection.process_data_events(time_limit=0.2)
                out.flush()  # whole lines: the report reads the file while this runs
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - closing at exit, nothing to do about it
                pass
        except Exception as error:  # noqa: BLE001 - the broker went away: bind again
            print(f"messaging.py: amqp listener: {error!r}; reconnecting", file=sys.stderr)
            with open(args.out + ".reconnects", "a", encoding="utf-8") as f:
                f.write(f"{time.time():.3f} {error!r}\n")
            time.sleep(0.5)
    out.close()


def kafka_listen(args):
    from kafka import KafkaConsumer, TopicPartition

    stop_on_signal()
    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap,
        group_id=None,  # no group: assigned partitions, nothing committed, nobody's messages taken
        enable_auto_commit=False,
        fetch_max_wait_ms=args.fetch_max_wait_ms,
        fetch_min_bytes=1,
        max_poll_records=5000,
        client_id=f"bench-messaging-{uuid.uuid4().hex[:8]}",
    )
    partitions = None
    deadline = time.time() + 30
    while not partitions and time.time() < deadline:
        partitions = consumer.partitions_for_topic(args.topic)
        if not partitions:
            time.sleep(0.2)
    if not partitions:
        sys.exit(f"messaging.py: topic {args.topic} has no partitions")
    tps = [TopicPartition(args.topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    for tp in tps:
        consumer.position(tp)  # resolves "the end" now, before the load starts
    out = open(args.out, "w", encoding="utf-8", buffering=1 << 16)
    touch(args.ready)
    while not stopping:
        batches = consumer.poll(timeout_ms=200)
        now = time.time()
        for records in batches.values():
            for record in records:
                m = EVENT_ID.search(record.value or b"")
                event_id = m.group(1).decode() if m else "?"
                out.write(f"{event_id} {now:.6f} {record.timestamp}\n")
    out.close()
    consumer.close()


def sample_backlog(args):
    stop_on_signal()
    with open(args.out, "w", encoding="utf-8", buffering=1) as out:
        while not stopping:
            started = time.time()
            n = psql(args.db, "SELECT count(*) FROM outbox WHERE published_at IS NULL").strip()
            out.write(f"{started:.3f} {n}\n")
            time.sleep(max(0.0, args.interval - (time.time() - started)))


# ------------------------------------------------------------------- report

def percentile(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def stats(values_ms, missing=0):
    """p50/p99/max; events that never arrived count as infinitely late."""
    v = sorted(values_ms) + [float("inf")] * missing
    return {"n": len(v), "p50": percentile(v, 50), "p99": percentile(v, 99),
            "max": v[-1] if v else float("nan")}


def read_arrivals(path):
    """event_id -> (first arrival, extra fields of that line); duplicates counted."""
    first, dups = {}, 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2 or not line.endswith("\n"):
                continue
            if parts[0] in first:
                dups += 1
                continue
            first[parts[0]] = (float(parts[1]), parts[2:])
    return first, dups


def report(args):
    # The order's row, never updated here, still carries the xmin of the
    # transaction that created it and its outbox row (the outbox row's own
    # xmin is the relay's, once marked).
    committed = ("extract(epoch FROM pg_xact_commit_timestamp(o.xmin))::text"
                 if args.commit_timestamps == "on" else "'-'")
    rows = psql(args.db, (
        "SELECT e.event_id, e.order_id, extract(epoch FROM e.created_at), "
        "coalesce(extract(epoch FROM e.published_at)::text, '-'), "
        f"coalesce({committed}, '-') FROM outbox e JOIN orders o USING (order_id) "
        f"WHERE e.id > {int(args.after_id)} AND e.event_type = 'OrderCreated' ORDER BY e.id"))
    events, commits = {}, {}
    for line in rows.splitlines():
        event_id, order_id, created, published, commit = line.split(" ")
        events[event_id] = (order_id, float(created), None if published == "-" else float(published))
        if commit != "-":
            commits[event_id] = float(commit)
    responses = {}
    for name in os.listdir(args.times_dir):
        with open(os.path.join(args.times_dir, name), encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    responses[parts[0]] = float(parts[1])
    backlog = []
    with open(args.backlog, encoding="utf-8") as f:
        for line in f:
            t, n = line.split()
            backlog.append((float(t), int(n)))

    result = {"events": len(events), "responses": len(responses), "brokers": {}}
    # The commit happened after created_at (the statement's now()) and before
    # the HTTP response left the host.
    window = [(responses[o] - c) * 1000 for (o, c, _) in events.values() if o in responses]
    result["commit_window_ms"] = stats(window)
    # published_at is the relay's clock_timestamp() when it marks the row,
    # after both brokers acknowledged the event: an upper bound of its
    # arrival on each broker that no listener's polling delays.
    acknowledged = [(p - c) * 1000 for (_, c, p) in events.values() if p is not None]
    result["published_at_minus_created_ms"] = stats(acknowledged)
    result["commit_timestamps"] = len(commits)
    if commits:
        result["published_at_minus_commit_ms"] = stats(
            [(p - commits[e]) * 1000 for e, (_, _, p) in events.items() if p is not None and e in commits])
        result["commit_minus_created_ms"] = stats(
            [(commits[e] - c) * 1000 for e, (_, c, _) in events.items() if e in commits])
    for broker, path in (("rabbitmq", args.amqp), ("kafka", args.kafka)):
        arrivals, dups = read_arrivals(path)
        upper, lower, record_ts, from_commit = [], [], [], []
        for event_id, (order_id, created, _) in events.items():
            got = arrivals.get(event_id)
            if got is None:
                continue
            arrived, extra = got
            upper.append((arrived - created) * 1000)
            if event_id in commits:
                from_commit.append((arrived - commits[event_id]) * 1000)
            if order_id in responses:
                lower.append((arrived - responses[order_id]) * 1000)
            if extra and extra[0].lstrip("-").isdigit() and int(extra[0]) > 0:
                record_ts.append(int(extra[0]) - created * 1000)
        times = sorted(t for (t, _) in arrivals.values())
        result.setdefault("arrival_rate_per_s", {})[broker] = (
            (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else None)
        result["brokers"][broker] = {
            "received": len(upper),
            "missing": len(events) - len(upper),
            "redelivered": dups,
            "from_created_at_ms": stats(upper, len(events) - len(upper)),
            "from_commit_ms": stats(from_commit, len(events) - len(upper)) if commits else None,
            "from_response_ms": stats(lower, len(events) - len(upper)),
            "record_timestamp_minus_created_ms": stats(record_ts) if record_ts else None,
        }
    in_load = [n for (t, n) in backlog if args.load_start <= t <= args.load_end]
    points = [(t, n) for (t, n) in backlog if args.load_start <= t <= args.load_end]
    slope = None
    if len(points) >= 3:
        mt = sum(t for t, _ in points) / len(points)
        mn = sum(n for _, n in points) / len(points)
        var = sum((t - mt) ** 2 for t, _ in points)
        slope = sum((t - mt) * (n - mn) for t, n in points) / var if var else None
    result["backlog"] = {
        "start": args.backlog_start, "end": args.backlog_end,
        "max_during_load": max(in_load) if in_load else None,
        "samples_during_load": [n for n in in_load],
        "drained_after_s": args.drained_after,
        "slope_per_s": slope,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)


# ---------------------------------------------------------------- consumer

def consumer_events(args, orders_out):
    """Fresh orders for a user of their own, straight into the database, and
    the stream of messages for them; returns (user, counts, stream).

    Half the orders wait for shipment, half are already shipped, so that every
    unique event is a transition the contract applies at once (no
    OrderDelivered waits for its OrderShipped on the other queue, which would
    be retried after 5 s)."""
    total = args.events
    duplicates = int(round(total * args.duplicates))
    unique = total - duplicates
    if duplicates > unique:
        sys.exit("messaging.py: more duplicates than unique events")
    shipped_n = (unique + 1) // 2   # pending orders, each gets one OrderShipped
    delivered_n = unique - shipped_n  # shipped orders, each gets one OrderDelivered
    # The same seed in both runs: the same shuffle and duplicate positions, so
    # that the live and the prefilled runs differ only in when they publish.
    rng = random.Random(args.seed)
    user, product = str(uuid.uuid4()), str(uuid.uuid4())
    run = uuid.uuid4().hex[:12]

    copy = []
    orders = []
    for i in range(shipped_n + delivered_n):
        order_id = str(uuid.uuid4())
        pending = i < shipped_n
        orders.append((order_id, pending))
        status = "Pending Shipment" if pending else "Shipped"
        shipped_at = "\\N" if pending else "2026-01-01 00:00:00"
        copy.append(f"{order_id}\t{user}\t{product}\t1\t{status}\tbench-consumer-{run}-{i}\t"
                    f"bench\t{shipped_at}\n")
    psql(args.db, "COPY orders (order_id, user_id, product_id, quantity, status, idempotency_key, "
                  "request_fingerprint, shipped_at) FROM STDIN", stdin="".join(copy))
    with open(orders_out, "w", encoding="utf-8") as f:
        f.writelines(f"{o}\n" for o, _ in orders)

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    messages = []
    for order_id, pending in orders:
        event_type, queue, field = (("OrderShipped", args.shipped_queue, "shipped_at") if pending
                                    else ("OrderDelivered", args.delivered_queue, "delivered_at"))
        event_id = str(uuid.uuid4())
        body = json.dumps({"event_id": event_id, "event_type": event_type, "order_id": order_id,
                           "timestamp": stamp, "data": {field: stamp}}).encode()
        messages.append((queue, event_id, body))
    rng.shuffle(messages)
    # Each duplicate is the same message again (same event_id, same body),
    # somewhere after its original.
    keyed = [(float(i), m) for i, m in enumerate(messages)]
    for i in rng.sample(range(unique), duplicates):
        keyed.append((rng.uniform(i + 0.5, unique), messages[i]))
    keyed.sort(key=lambda km: km[0])
    stream = [m for _, m in keyed]
    counts = {"events": total, "unique": unique, "duplicates": duplicates,
              "shipped_events": shipped_n, "delivered_events": delivered_n}
    return user, counts, stream


def publish(channel, stream):
    """Publishes the stream as fast as one publisher goes, without confirms
    (confirming message by message would measure the publisher)."""
    import pika

    for queue, event_id, body in stream:
        channel.basic_publish("", queue, body, pika.BasicProperties(
            content_type="application/json", delivery_mode=2, message_id=event_id))


TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$")


def epoch(stamp):
    """An RFC 3339 timestamp (tracing's "2026-11-30T18:54:32.123456Z") in
    seconds since the epoch; by hand, as fromisoformat takes no "Z" before
    Python 3.11 and the venv's Python is whatever python3 is."""
    m = TIMESTAMP.match(stamp or "")
    if not m:
        return None
    seconds = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    fraction = float("0." + m.group(2)) if m.group(2) else 0.0
    zone = m.group(3) or "Z"
    offset = 0 if zone == "Z" else (
        (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 3600 + int(zone[-2:]) * 60))
    return seconds + fraction - offset


class HostLog:
    """The host's JSON log lines, read as the host writes them: the outcomes of
    "message handled" counted, and the timestamps of the first "consuming"
    and of the last "message handled" line (the host's own clock, so no poll
    interval of ours is in them)."""

    def __init__(self, path, from_end):
        self.file = open(path, "rb")
        if from_end:
            self.file.seek(0, os.SEEK_END)
        self.rest = b""  # a line the host has not finished writing yet
        self.outcomes = {}
        self.first_consuming = None
        self.last_handled = None

    def read(self):
        data = self.rest + self.file.read()
        lines = data.split(b"\n")
        self.rest = lines.pop()
        for line in lines:
            handled = b'"message handled"' in line
            if not handled and b'"consuming"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            fields = entry.get("fields", {})
            message = entry.get("message") or fields.get("message")
            at = epoch(entry.get("timestamp"))
            if message == "consuming" and self.first_consuming is None:
                self.first_consuming = at
            elif message == "message handled":
                outcome = entry.get("outcome") or fields.get("outcome") or "?"
                outcome = outcome.split(" in ")[0]
                self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
                if at is not None:
                    self.last_handled = at if self.last_handled is None else max(self.last_handled, at)

    def settled(self):
        """Messages handled for good: a retry comes back as another message."""
        return sum(n for o, n in self.outcomes.items() if not o.startswith("retry"))


def processed_events(db, user):
    return int(psql(db, "SELECT count(*) FROM processed_events pe JOIN orders o "
                        f"USING (order_id) WHERE o.user_id = '{user}'"))


BACKLOG = "SELECT count(*) FROM outbox WHERE published_at IS NULL"


def wait_settled(args, user, counts, log, pause, alive=lambda: True, db_every=0.25):
    """Waits until the host has handled (acked) every message and recorded
    every unique event, asking the database every `db_every` seconds;
    returns (processed_events rows, when the unique count was first seen,
    complete)."""
    total, unique = counts["events"], counts["unique"]
    unique_done_at = None
    deadline = time.time() + args.timeout
    last_db = 0.0
    processed = 0
    while time.time() < deadline:
        log.read()
        now = time.time()
        if now - last_db >= db_every or log.settled() >= total:
            processed = processed_events(args.db, user)
            last_db = now
            if unique_done_at is None and processed >= unique:
                unique_done_at = now
        if log.settled() >= total and processed >= unique:
            break
        if not alive():
            print("messaging.py: sales-host exited before handling every message", file=sys.stderr)
            break
        pause()
    log.read()
    return processed, unique_done_at, log.settled() >= total and processed >= unique


def queue_names(shipped_queue, delivered_queue):
    for base in (shipped_queue, delivered_queue):
        yield base, [base, f"{base}.dlq"] + [f"{base}.retry.{n}" for n in (1, 2, 3)]


def depths(connection, shipped_queue, delivered_queue):
    """Messages in the consumed queues and their retry and dead-letter queues
    (passive declare: None for a queue that is not there)."""
    channel = connection.channel()
    queues = {}
    for _, names in queue_names(shipped_queue, delivered_queue):
        for q in names:
            if not connection.is_open:
                break
            try:
                queues[q] = channel.queue_declare(q, passive=True).method.message_count
            except Exception:  # noqa: BLE001 - a queue that is not there holds nothing
                queues[q] = None
            if not channel.is_open:
                channel = connection.channel()
    if channel.is_open:
        channel.close()
    return queues


def afterwards(args, user, connection):
    """What the run left: the checks both consumer runs report."""
    queues = depths(connection, args.shipped_queue, args.delivered_queue)
    statuses = psql(args.db, "SELECT status, count(*) FROM orders WHERE user_id = "
                             f"'{user}' GROUP BY status ORDER BY status")
    changed = psql(args.db, "SELECT count(*) FROM outbox WHERE event_type = 'OrderStatusChanged' "
                            f"AND order_id IN (SELECT order_id FROM orders WHERE user_id = '{user}')")
    return {
        "status_changed_outbox_rows": int(changed),
        "orders_by_status": dict((" ".join(l.split(" ")[:-1]), int(l.split(" ")[-1]))
                                 for l in statuses.splitlines() if l),
        "queues_after": queues,
        "user_id": user,
    }


def consumer(args):
    """The live run: published while the host consumes, timed from the first
    publish (the publisher shares the machine with the host)."""
    user, counts, stream = consumer_events(args, args.orders_out)
    log = HostLog(args.host_log, from_end=True)
    connection = amqp_connection()
    channel = connection.channel()
    for queue in (args.shipped_queue, args.delivered_queue):
        channel.queue_declare(queue, passive=True)  # the host declared them

    backlog_before = int(psql(args.db, BACKLOG))
    started = time.time()
    publish(channel, stream)
    published = time.time()
    # The publish is not confirmed message by message; the host's count of
    # handled messages is the proof.
    processed, unique_done_at, complete = wait_settled(
        args, user, counts, log, lambda: connection.process_data_events(time_limit=0.02))
    finished = time.time()
    backlog_after = int(psql(args.db, BACKLOG))
    checks = afterwards(args, user, connection)
    connection.close()
    elapsed = finished - started
    result = dict(counts)
    result.update({
        "publish_s": published - started,
        "publish_per_s": counts["events"] / (published - started),
        "elapsed_s": elapsed,
        "complete": complete,
        "handled_per_s": log.settled() / elapsed,
        "unique_applied_s": (unique_done_at - started) if unique_done_at else None,
        "outcomes": log.outcomes,
        "processed_events": processed,
        "outbox_backlog_before": backlog_before,
        "outbox_backlog_after": backlog_after,
    })
    result.update(checks)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)


def consumer_fill(args):
    """The prefilled run's first half, while no host runs: orders and events
    as in the live run, published to the durable queues the stopped host
    left, and their depths checked against what was published."""
    connection = amqp_connection()
    # Anything already there (a retry on its way back included) would be
    # consumed and counted with this run's messages.
    before = depths(connection, args.shipped_queue, args.delivered_queue)
    for base, names in queue_names(args.shipped_queue, args.delivered_queue):
        if before.get(base) is None:
            sys.exit(f"messaging.py: queue {base} is not there (the host declares it)")
        left = {q: before[q] for q in names if q != f"{base}.dlq" and before.get(q)}
        if left:
            sys.exit(f"messaging.py: messages left from before the prefilled run: {left}")
    user, counts, stream = consumer_events(args, args.orders_out)
    expected = {args.shipped_queue: 0, args.delivered_queue: 0}
    for queue, _, _ in stream:
        expected[queue] += 1
    channel = connection.channel()
    started = time.time()
    publish(channel, stream)
    published = time.time()
    # Unconfirmed, so the broker may still be taking them in: the queues'
    # depths are the proof that every message is there before the host starts.
    deadline = time.time() + 60
    while True:
        got = {q: channel.queue_declare(q, passive=True).method.message_count for q in expected}
        if got == expected or time.time() > deadline or any(got[q] > expected[q] for q in expected):
            break
        connection.process_data_events(time_limit=0.1)
    connection.close()
    if got != expected:
        sys.exit(f"messaging.py: queue depths {got} after publishing {expected}")
    result = dict(counts)
    result.update({
        "user_id": user,
        "publish_s": published - started,
        "publish_per_s": counts["events"] / (published - started),
        "queue_depths": got,
        "outbox_backlog_before": int(psql(args.db, BACKLOG)),
    })
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)


def consumer_drain(args):
    """The prefilled run's second half, once the host is started on the full
    queues: timed on the host's own log, from its first "consuming" line to
    its last "message handled" line."""
    fill = json.load(open(args.fill, encoding="utf-8"))
    user = fill["user_id"]
    log = HostLog(args.host_log, from_end=False)

    def alive():
        try:
            with open(f"/proc/{args.host_pid}/stat", encoding="utf-8") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    # Timed on the host's log, so the database is asked only now and then:
    # each question is a psql process and a Postgres backend, CPU taken from
    # the host being measured.
    processed, _, complete = wait_settled(args, user, fill, log, lambda: time.sleep(0.1), alive,
                                          db_every=1.0)
    backlog_after = int(psql(args.db, BACKLOG))
    connection = amqp_connection()
    checks = afterwards(args, user, connection)
    connection.close()
    t0, t_end = log.first_consuming, log.last_handled
    consume_s = (t_end - t0) if t0 is not None and t_end is not None else None
    result = dict(fill)
    result.update({
        "complete": complete,
        "startup_s": (t0 - args.host_started) if t0 is not None else None,
        "consume_s": consume_s,
        "handled_per_s": fill["events"] / consume_s if consume_s else 0.0,
        "outcomes": log.outcomes,
        "processed_events": processed,
        "outbox_backlog_after": backlog_after,
    })
    result.update(checks)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)


def delete_queues(args):
    connection = amqp_connection()
    for base in args.queues:
        for q in [base, f"{base}.dlq"] + [f"{base}.retry.{n}" for n in range(1, 9)]:
            channel = connection.channel()
            try:
                channel.queue_delete(q)
                channel.close()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
    connection.close()


def consumer_checks(c, began, drained):
    """The correctness lines both consumer runs print."""
    print(f"outcomes: {json.dumps(c['outcomes'], sort_keys=True)}; processed_events rows: "
          f"{c['processed_events']} (of {c['unique']} unique); OrderStatusChanged outbox rows: "
          f"{c['status_changed_outbox_rows']}")
    print(f"orders by status afterwards: {json.dumps(c['orders_by_status'], sort_keys=True)}")
    left = {q: n for q, n in c["queues_after"].items() if n}
    print(f"messages left in the queues, retry and dead-letter queues: {left or 'none'}")
    print(f"outbox backlog when {began}: {c['outbox_backlog_before']}; when the last "
          f"event was handled: {c['outbox_backlog_after']} (the OrderStatusChanged events); "
          + (f"drained {drained} s after that" if drained[:1].isdigit() else f"drained: {drained}"))


def summary(args):
    a = json.load(open(args.arrival, encoding="utf-8"))
    c = json.load(open(args.consumer, encoding="utf-8"))
    p = json.load(open(args.prefilled, encoding="utf-8"))
    rps, p50, p99 = (float(x) for x in args.post.split())
    num = lambda x: f"{x:8.1f}" if x != float("inf") else f"{'never':>8}"
    ms = lambda s: f"{num(s['p50'])} {num(s['p99'])} {num(s['max'])}"
    print(f"1. Commit to arrival: wrk -t{args.threads} -c{args.connections} -d{args.duration} "
          f"POST /api/v1/orders: {rps:.0f} req/s (p50 {p50:.1f} ms, p99 {p99:.1f} ms); "
          f"{a['events']} OrderCreated events written")
    print()
    print("(missing: not arrived when the listeners stopped; counted as 'never' in the percentiles)")
    print(f"{'arrival minus commit (ms)':44} {'p50':>8} {'p99':>8} {'max':>8} {'received':>9} {'missing':>8}")
    for broker, name in (("rabbitmq", "RabbitMQ orders.created"), ("kafka", "Kafka order-events")):
        b = a["brokers"][broker]
        if b.get("from_commit_ms"):
            print(f"{name + ', from the commit':44} {ms(b['from_commit_ms'])} {b['received']:9} {b['missing']:8}")
        print(f"{name + ', from created_at':44} {ms(b['from_created_at_ms'])} {b['received']:9} {b['missing']:8}")
        print(f"{name + ', from the 201 response':44} {ms(b['from_response_ms'])}")
        if b.get("record_timestamp_minus_created_ms"):
            print(f"{'  (Kafka record timestamp - created_at)':44} {ms(b['record_timestamp_minus_created_ms'])}")
    w = a["commit_window_ms"]
    print(f"{'error bound: 201 response - created_at':44} {ms(w)}")
    rates = a.get("arrival_rate_per_s", {})
    if rates.get("kafka"):
        print(f"relay throughput (arrivals per second between the first and the last): "
              f"RabbitMQ {rates.get('rabbitmq') or 0:.0f}/s, Kafka {rates['kafka']:.0f}/s; "
              f"relay runs stopped by a refused publish: {args.relay_failures}")
    if args.broker_interruptions != "0":
        print(f"WARNING: the host lost its RabbitMQ connection {args.broker_interruptions} time(s) "
              "during the run (someone restarted the broker?): the figures are disturbed")
    r = a["published_at_minus_created_ms"]
    if a.get("published_at_minus_commit_ms"):
        print(f"{'both acked (published_at), from the commit':44} {ms(a['published_at_minus_commit_ms'])}")
    print(f"{'both acked (published_at), from created_at':44} {ms(r)}")
    if a.get("commit_minus_created_ms"):
        print(f"{'commit - created_at (statement and commit)':44} {ms(a['commit_minus_created_ms'])}")
    if a.get("commit_timestamps", 0) < a["events"]:
        print(f"commit timestamps: {a.get('commit_timestamps', 0)} of {a['events']} events "
              "(track_commit_timestamp off: figures from created_at only)")
    print()
    b = a["backlog"]
    samples = b["samples_during_load"]
    drained = b["drained_after_s"]
    print(f"outbox backlog (published_at IS NULL): start {b['start']}, end {b['end']}, "
          f"max during the load {b['max_during_load']}; drained "
          + (f"{drained:.1f} s after the load" if drained is not None else "NOT by the end of the wait (BENCH_DRAIN_TIMEOUT)"))
    print(f"  every second during the load: {' '.join(str(n) for n in samples)}")
    if b.get("slope_per_s") is not None:
        print(f"  least-squares trend during the load: {b['slope_per_s']:+.1f} events/s")
    print()
    print(f"2. Consumer: {c['events']} events ({c['shipped_events']} OrderShipped, "
          f"{c['delivered_events']} OrderDelivered, {c['duplicates']} exact duplicates) "
          "to the host's two queues, twice, fresh orders and events each time")
    print()
    print("a. live: published while the host consumes (the publisher shares the machine's "
          "CPUs with the host)")
    print(f"published in {c['publish_s']:.2f} s ({c['publish_per_s']:.0f}/s, one publisher, no confirms)")
    status = "complete" if c["complete"] else "INCOMPLETE (timed out)"
    print(f"all handled ({status}) {c['elapsed_s']:.2f} s after the first publish: "
          f"{c['handled_per_s']:.0f} events/s")
    if c["unique_applied_s"]:
        print(f"unique events applied after {c['unique_applied_s']:.2f} s: "
              f"{c['unique'] / c['unique_applied_s']:.0f} status changes/s")
    consumer_checks(c, "the publishing began", args.consumer_drained)
    print()
    print("b. prefilled: published while no host ran, then the host started on the same "
          "database and manifest")
    depths = ", ".join(f"{q} {n}" for q, n in p["queue_depths"].items())
    print(f"published in {p['publish_s']:.2f} s ({p['publish_per_s']:.0f}/s); queue depths before "
          f"the start: {depths} (as published)")
    startup = p["startup_s"]
    print("start-up, process start to the first \"consuming\" line: "
          + (f"{startup:.2f} s" if startup is not None else "no \"consuming\" line"))
    status = "complete" if p["complete"] else "INCOMPLETE (timed out, or the host exited)"
    consume = p["consume_s"]
    print(f"all handled ({status}): "
          + (f"{consume:.2f} s from the first \"consuming\" line to the last \"message handled\" "
             f"line (the host's log timestamps): {p['handled_per_s']:.0f} events/s"
             if consume else "no figure (no \"consuming\" or \"message handled\" line)"))
    consumer_checks(p, "the host started", args.prefilled_drained)
    print()
    print(f"consumer, prefilled queues (host started after publishing): {p['handled_per_s']:.0f} events/s")
    print(f"consumer, live (published while consuming, publisher on the same CPUs): "
          f"{c['handled_per_s']:.0f} events/s")
    print()
    # Judged from the commit when Postgres gave every commit's time, else
    # from created_at (before the commit: the larger, safe figure).
    basis = "from_commit_ms" if a["brokers"]["kafka"].get("from_commit_ms") else "from_created_at_ms"
    kmax = a["brokers"]["kafka"][basis]["p99"]
    rmax = a["brokers"]["rabbitmq"][basis]["p99"]
    missing = a["brokers"]["kafka"]["missing"] + a["brokers"]["rabbitmq"]["missing"]
    verdict = lambda ok: "met" if ok else "NOT met"
    judged = "from the commit" if basis == "from_commit_ms" else "from created_at"
    acked = a.get("published_at_minus_commit_ms" if basis == "from_commit_ms" else "published_at_minus_created_ms")
    # Arrival on a broker is its acknowledgement (published_at is set after
    # both); a listener sees the event later by its own polling (tansu sleeps
    # a fetch's whole max wait before answering), so both are judged.
    print(f"target p99 < 100 ms ({judged}): acknowledged by both brokers (published_at) "
          f"{num(acked['p99']).strip()} ms {verdict(acked['p99'] < 100)}; seen by the listeners: "
          f"RabbitMQ {num(rmax).strip()} ms {verdict(rmax < 100)}, "
          f"Kafka {num(kmax).strip()} ms {verdict(kmax < 100)}"
          + (f" ({missing} broker deliveries not arrived by the end of the wait)" if missing else ""))
    flat = b["end"] <= max(b["start"], 0) + max(50, rps * 0.05) and drained is not None
    print(f"target backlog flat: start {b['start']}, end {b['end']}, max {b['max_during_load']}: "
          f"{verdict(flat)} (flat: the end within 50 events or 50 ms of POSTs of the start)")
    print(f"target >= 2000 events/s, on the prefilled figure: {p['handled_per_s']:.0f} "
          f"{verdict(p['handled_per_s'] >= 2000 and p['complete'])} "
          f"(live, for information: {c['handled_per_s']:.0f})")


def no_samples():
    """A histogram with nothing observed."""
    return {"sum": 0.0, "count": 0.0, "buckets": {}}


def histograms(path):
    """The histograms of a Prometheus text page: {(name, labels): {"sum", "count", "buckets": {le: n}}}."""
    found = {}
    pattern = re.compile(r'^(\w+)_(bucket|sum|count)\{([^}]*)\} (\S+)$')
    with open(path, encoding="utf-8") as page:
        for line in page:
            m = pattern.match(line.strip())
            if not m:
                continue
            name, part, raw_labels, value = m.groups()
            labels = dict(re.findall(r'(\w+)="([^"]*)"', raw_labels))
            le = labels.pop("le", None)
            h = found.setdefault((name, tuple(sorted(labels.items()))), no_samples())
            if part == "bucket":
                h["buckets"][float(le)] = float(value)
            else:
                h[part] = float(value)
    return found


# Programs whose share of the machine the POST load's report shows; every
# other process counts as "other".
CPU_PROGRAMS = {
    "postgres": "postgres",
    "sales-host": "sales-host",
    "beam.smp": "rabbitmq",
    "tansu": "tansu",
    "kafka-listener": "listeners",
    "amqp-listener": "listeners",
}


def cpu_snapshot(args):
    """Every thread's time on a CPU and waiting for one so far (nanoseconds),
    with its program, and the time of the snapshot."""
    tasks = {}
    for task in glob.glob("/proc/[0-9]*/task/[0-9]*"):
        pid = task.split("/")[2]
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"{task}/schedstat") as f:
                on_cpu, waiting, _ = f.read().split()
        except (OSError, ValueError):
            continue  # the task ended meanwhile
        program = CPU_PROGRAMS.get(comm) or ("listeners" if comm.startswith("python") else "other")
        tasks[task] = (program, int(on_cpu), int(waiting))
    with open(args.out, "w") as f:
        json.dump({"time": time.time(), "tasks": tasks}, f)


def cpu_share(args):
    """Per second between two snapshots, by program: CPU time (in CPUs) and
    the threads' wait for a CPU (the mean number of them runnable but not
    running). A thread that started between the two counts whole; one that
    ended is left out."""
    with open(args.before) as f:
        before = json.load(f)
    with open(args.after) as f:
        after = json.load(f)
    seconds = after["time"] - before["time"]
    shares = {}
    for task, (program, on_cpu, waiting) in after["tasks"].items():
        _, was_on, was_waiting = before["tasks"].get(task, (program, 0, 0))
        share = shares.setdefault(program, [0.0, 0.0])
        share[0] += (on_cpu - was_on) / 1e9 / seconds
        share[1] += (waiting - was_waiting) / 1e9 / seconds
    ordered = sorted(shares.items(), key=lambda item: -item[1][0])
    print(f"CPU {args.during} ({os.cpu_count()} CPUs; per second of it: on a CPU / waiting for one, "
          "from /proc schedstat; listeners = the bench's listeners and helpers"
          f"{args.not_counted}):")
    print("  " + ", ".join(f"{program} {on:.2f} / {waiting:.2f}" for program, (on, waiting) in ordered))
    print(f"  in all {sum(on for on, _ in shares.values()):.2f} on a CPU, "
          f"{sum(waiting for _, waiting in shares.values()):.2f} waiting")


def relay_runs(args):
    """The relay's share of the prefilled run's work: how many runs it made
    for the OrderStatusChanged events (an empty run is an instance and a
    query that found nothing), from one scrape of the second host's /metrics."""
    runs = empty = events = 0.0
    for (name, _labels), h in histograms(args.metrics).items():
        if name == "outbox_relay_run_events":
            runs += h["count"]
            events += h["sum"]
            empty += h["buckets"].get(0.0, 0.0)
    print(f"relay runs while consuming prefilled queues: {runs:.0f} ({empty:.0f} empty), "
          f"{events:.0f} events, {events / runs if runs > 0 else 0:.2f} events per run")


def relay_breakdown(args):
    """Where the relay's time went during the POST load, from two scrapes of the host's /metrics."""
    before, after = histograms(args.before), histograms(args.after)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        a, b = before.get(key, no_samples()), after.get(key)
        if b is None or b["count"] - a["count"] <= 0:
            return None
        count = b["count"] - a["count"]
        over = count - (b["buckets"].get(0.1, 0.0) - a["buckets"].get(0.1, 0.0))
        return {"count": count, "mean_ms": 1000 * (b["sum"] - a["sum"]) / count, "over_100ms": over / count}

    def describe(what, d, unit):
        if d is None:
            return f"{what}: none"
        return (f"{what}: mean {d['mean_ms']:.2f} ms, {100 * d['over_100ms']:.1f}% of {unit} over 100 ms")

    runs = delta("outbox_relay_run_duration_seconds", component="outbox-relay")
    wait = delta("db_pool_wait_seconds", component="outbox-relay")
    rabbit = delta("broker_publish_duration_seconds", broker="rabbitmq", outcome="ok")
    kafka = delta("broker_publish_duration_seconds", broker="kafka", outcome="ok")
    print("relay during the load (the host's /metrics before and after; a batch's broker wait counts once per event):")
    label = f"runs ({runs['count']:.0f})" if runs else "runs"
    print(f"  {describe(label, runs, 'runs')}")
    print(f"  {describe('waiting for a pooled Postgres connection', wait, 'runs')}")
    print(f"  {describe('RabbitMQ publisher confirms', rabbit, 'events')}")
    print(f"  {describe('Kafka delivery reports', kafka, 'events')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("amqp-listen")
    p.add_argument("--exchange", required=True)
    p.add_argument("--routing-key", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--ready", required=True)
    p.set_defaults(func=amqp_listen)
    p = sub.add_parser("kafka-listen")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--fetch-max-wait-ms", type=int, default=10)
    p.set_defaults(func=kafka_listen)
    p = sub.add_parser("sample-backlog")
    p.add_argument("--db", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--interval", type=float, default=1.0)
    p.set_defaults(func=sample_backlog)
    p = sub.add_parser("report")
    for name in ("db", "after-id", "times-dir", "amqp", "kafka", "backlog", "out"):
        p.add_argument(f"--{name}", required=True)
    for name in ("load-start", "load-end"):
        p.add_argument(f"--{name}", type=float, required=True)
    for name in ("backlog-start", "backlog-end"):
        p.add_argument(f"--{name}", type=int, required=True)
    p.add_argument("--drained-after", type=float, default=None)
    p.add_argument("--commit-timestamps", choices=("on", "off"), default="off")
    p.set_defaults(func=report)
    p = sub.add_parser("consumer")
    for name in ("db", "shipped-queue", "delivered-queue", "host-log", "out", "orders-out"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--events", type=int, default=10000)
    p.add_argument("--duplicates", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=4)
    p.add_argument("--timeout", type=float, default=300)
    p.set_defaults(func=consumer)
    p = sub.add_parser("consumer-fill")
    for name in ("db", "shipped-queue", "delivered-queue", "out", "orders-out"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--events", type=int, default=10000)
    p.add_argument("--duplicates", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=4)
    p.set_defaults(func=consumer_fill)
    p = sub.add_parser("consumer-drain")
    for name in ("db", "shipped-queue", "delivered-queue", "host-log", "fill", "out"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--host-pid", type=int, required=True)
    p.add_argument("--host-started", type=float, required=True)
    p.add_argument("--timeout", type=float, default=300)
    p.set_defaults(func=consumer_drain)
    p = sub.add_parser("summary")
    for name in ("arrival", "consumer", "prefilled", "connections", "duration", "threads", "post",
                 "consumer-drained", "prefilled-drained", "relay-failures", "broker-interruptions"):
        p.add_argument(f"--{name}", required=True)
    p.set_defaults(func=summary)
    p = sub.add_parser("relay-runs")
    p.add_argument("--metrics", required=True)
    p.set_defaults(func=relay_runs)
    p = sub.add_parser("relay-breakdown")
    p.add_argument("--before", required=True)
    p.add_argument("--after", required=True)
    p.set_defaults(func=relay_breakdown)
    p = sub.add_parser("cpu-snapshot")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cpu_snapshot)
    p = sub.add_parser("cpu-share")
    p.add_argument("--before", required=True)
    p.add_argument("--after", required=True)
    p.add_argument("--during", default="during the load", help="the window, for the heading")
    p.add_argument("--not-counted", default="", help="what the heading says the snapshots miss")
    p.set_defaults(func=cpu_share)
    p = sub.add_parser("delete-queues")
    p.add_argument("queues", nargs="+")
    p.set_defaults(func=delete_queues)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
