//! Round trips through a real PostgreSQL (`host=127.0.0.1 user=root
//! dbname=postgres`, trust authentication). Each value is sent as `$1::type`
//! and checked three ways: the column's WIT type, the WIT value read back,
//! and the server's own `::text` rendering of what it received.

use std::fmt::Debug;

use tokio_postgres::{Client, NoTls};

use super::*;
use RangeBoundKind::{Exclusive, Inclusive};

const DSN: &str = "host=127.0.0.1 user=root dbname=postgres";

fn dbg(value: &impl Debug) -> String {
    format!("{value:?}")
}

async fn connect() -> Client {
    let (client, connection) = tokio_postgres::connect(DSN, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL must be running at {DSN} (pg_ctlcluster --skip-systemctl-redirect \
                 <version> main start): {}",
                error_text(&e)
            )
        });
    tokio::spawn(connection);
    client
}

#[allow(clippy::result_large_err)]
async fn query(client: &Client, sql: &str, params: Vec<ParameterValue>) -> Result<RowSet, Error> {
    let params = to_sql_params(params)?;
    let refs = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect::<Vec<_>>();
    let statement = client.prepare(sql).await.map_err(query_error)?;
    let rows = client.query(&statement, &refs).await.map_err(query_error)?;
    row_set(statement.columns(), &rows)
}

/// Sends `param` as `$1::sql_type`; checks the column's data type, the
/// value read back, and the server's text for the value (`None`: NULL).
async fn round_trip(
    client: &Client,
    sql_type: &str,
    param: ParameterValue,
    data_type: DbDataType,
    expected: DbValue,
    text: Option<&str>,
) {
    let sql = format!("SELECT $1::{sql_type} AS v, ($1::{sql_type})::text AS t");
    let shown = dbg(&param);
    let set = query(client, &sql, vec![param])
        .await
        .unwrap_or_else(|e| panic!("{sql} with {shown}: {e:?}"));
    assert_eq!(set.columns.len(), 2);
    assert_eq!(set.columns[0].name, "v");
    assert_eq!(
        dbg(&set.columns[0].data_type),
        dbg(&data_type),
        "{sql_type}"
    );
    assert_eq!(set.rows.len(), 1);
    let row = &set.rows[0];
    assert_eq!(dbg(&row[0]), dbg(&expected), "{sql_type} from {shown}");
    let expected_text = match text {
        Some(text) => DbValue::Str(text.to_owned()),
        None => DbValue::DbNull,
    };
    assert_eq!(dbg(&row[1]), dbg(&expected_text), "{sql_type} from {shown}");
}

#[tokio::test]
async fn scalars() {
    let c = connect().await;
    use {DbDataType as T, DbValue as V, ParameterValue as P};
    round_trip(
        &c,
        "bool",
        P::Boolean(true),
        T::Boolean,
        V::Boolean(true),
        Some("true"),
    )
    .await;
    round_trip(&c, "\"char\"", P::Int8(65), T::Int8, V::Int8(65), Some("A")).await;
    round_trip(
        &c,
        "int2",
        P::Int16(i16::MIN),
        T::Int16,
        V::Int16(i16::MIN),
        Some("-32768"),
    )
    .await;
    round_trip(
        &c,
        "int4",
        P::Int32(i32::MAX),
        T::Int32,
        V::Int32(i32::MAX),
        Some("2147483647"),
    )
    .await;
    round_trip(
        &c,
        "int8",
        P::Int64(i64::MIN),
        T::Int64,
        V::Int64(i64::MIN),
        Some("-9223372036854775808"),
    )
    .await;
    round_trip(
        &c,
        "float4",
        P::Floating32(1.5),
        T::Floating32,
        V::Floating32(1.5),
        Some("1.5"),
    )
    .await;
    round_trip(
        &c,
        "float8",
        P::Floating64(-0.25),
        T::Floating64,
        V::Floating64(-0.25),
        Some("-0.25"),
    )
    .await;
    for ty in ["text", "varchar", "name"] {
        round_trip(
            &c,
            ty,
            P::Str("héllo ✓".into()),
            T::Str,
            V::Str("héllo ✓".into()),
            Some("héllo ✓"),
        )
        .await;
    }
    round_trip(
        &c,
        "bpchar",
        P::Str("ab".into()),
        T::Str,
        V::Str("ab".into()),
        Some("ab"),
    )
    .await;
    // `char(n)` pads, and the padding comes back.
    let set = query(&c, "SELECT 'ab'::char(3) AS v", vec![])
        .await
        .unwrap();
    assert_eq!(dbg(&set.columns[0].data_type), dbg(&T::Str));
    assert_eq!(dbg(&set.rows[0][0]), dbg(&V::Str("ab ".into())));
    round_trip(
        &c,
        "bytea",
        P::Binary(vec![0, 1, 255]),
        T::Binary,
        V::Binary(vec![0, 1, 255]),
        Some("\\x0001ff"),
    )
    .await;
    for (ty, data_type) in [
        ("int4", T::Int32),
        ("text", T::Str),
        ("jsonb", T::Jsonb),
        ("numeric", T::Decimal),
        ("int4range", T::RangeInt32),
        ("text[]", T::ArrayStr),
        ("timestamptz", T::Datetime),
        ("interval", T::Interval),
        ("inet", T::Other("inet".into())),
    ] {
        round_trip(&c, ty, P::DbNull, data_type, V::DbNull, None).await;
    }
}

#[tokio::test]
async fn dates_and_times() {
    let c = connect().await;
    use {DbDataType as T, DbValue as V, ParameterValue as P};
    c.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
    round_trip(
        &c,
        "date",
        P::Date((2024, 2, 29)),
        T::Date,
        V::Date((2024, 2, 29)),
        Some("2024-02-29"),
    )
    .await;
    round_trip(
        &c,
        "date",
        P::Date((1, 1, 1)),
        T::Date,
        V::Date((1, 1, 1)),
        Some("0001-01-01"),
    )
    .await;
    round_trip(
        &c,
        "time",
        P::Time((13, 14, 15, 123_456_000)),
        T::Time,
        V::Time((13, 14, 15, 123_456_000)),
        Some("13:14:15.123456"),
    )
    .await;
    let dt = (2024, 2, 29, 13, 14, 15, 123_456_000);
    round_trip(
        &c,
        "timestamp",
        P::Datetime(dt),
        T::Datetime,
        V::Datetime(dt),
        Some("2024-02-29 13:14:15.123456"),
    )
    .await;
    round_trip(
        &c,
        "timestamptz",
        P::Datetime(dt),
        T::Datetime,
        V::Datetime(dt),
        Some("2024-02-29 13:14:15.123456+00"),
    )
    .await;
    // 2024-02-29T13:14:15Z.
    let unix = 1_709_212_455;
    let utc = (2024, 2, 29, 13, 14, 15, 0);
    round_trip(
        &c,
        "timestamp",
        P::Timestamp(unix),
        T::Datetime,
        V::Datetime(utc),
        Some("2024-02-29 13:14:15"),
    )
    .await;
    round_trip(
        &c,
        "timestamptz",
        P::Timestamp(unix),
        T::Datetime,
        V::Datetime(utc),
        Some("2024-02-29 13:14:15+00"),
    )
    .await;

    // The session's time zone changes the text, never the UTC tuple.
    c.batch_execute("SET TimeZone = 'Asia/Kolkata'")
        .await
        .unwrap();
    round_trip(
        &c,
        "timestamptz",
        P::Timestamp(unix),
        T::Datetime,
        V::Datetime(utc),
        Some("2024-02-29 18:44:15+05:30"),
    )
    .await;
    let set = query(
        &c,
        "SELECT '2024-02-29 18:44:15+05:30'::timestamptz AS v",
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(dbg(&set.rows[0][0]), dbg(&V::Datetime(utc)));

    // PostgreSQL's `24:00:00` is a valid time of day.
    let set = query(&c, "SELECT '24:00'::time AS v", vec![])
        .await
        .unwrap();
    assert_eq!(dbg(&set.rows[0][0]), dbg(&V::Time((24, 0, 0, 0))));

    // A value the WIT types cannot hold fails with the column's name.
    match query(&c, "SELECT 'infinity'::date AS far", vec![]).await {
        Err(Error::ValueConversionFailed(message)) => {
            assert!(message.contains("`far`"), "{message}")
        }
        other => panic!("expected value-conversion-failed, got {other:?}"),
    }
}

#[tokio::test]
async fn uuids_and_json() {
    let c = connect().await;
    use {DbDataType as T, DbValue as V, ParameterValue as P};
    round_trip(
        &c,
        "uuid",
        P::Uuid("67E55044-10B1-426F-9247-BB680E5FE0C8".into()),
        T::Uuid,
        V::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
        Some("67e55044-10b1-426f-9247-bb680e5fe0c8"),
    )
    .await;
    let json = r#"{"b": [1, 2.50, null], "a": "x", "big": 123456789012345678901234567890}"#;
    // jsonb normalizes key order; the number keeps every digit.
    let normalized = r#"{"a": "x", "b": [1, 2.50, null], "big": 123456789012345678901234567890}"#;
    round_trip(
        &c,
        "jsonb",
        P::Jsonb(json.into()),
        T::Jsonb,
        V::Jsonb(normalized.into()),
        Some(normalized),
    )
    .await;
    // json keeps the text as sent.
    round_trip(
        &c,
        "json",
        P::Jsonb(json.into()),
        T::Jsonb,
        V::Jsonb(json.into()),
        Some(json),
    )
    .await;
    round_trip(
        &c,
        "jsonb",
        P::Jsonb(b"\"x\"".to_vec()),
        T::Jsonb,
        V::Jsonb(b"\"x\"".to_vec()),
        Some("\"x\""),
    )
    .await;
}

#[tokio::test]
async fn decimals() {
    let c = connect().await;
    use {DbDataType as T, DbValue as V, ParameterValue as P};
    for text in [
        "123.4500",
        "-0.000000001",
        "0",
        "79228162514264337593543950335",
        "-10000",
    ] {
        round_trip(
            &c,
            "numeric",
            P::Decimal(text.into()),
            T::Decimal,
            V::Decimal(text.into()),
            Some(text),
        )
        .await;
    }
    // Values beyond rust_decimal still read back exactly as PostgreSQL
    // prints them.
    for text in [
        "0.000",
        "NaN",
        "Infinity",
        "-Infinity",
        "1e-20",
        "123456789012345678901234567890.123456789012345678901234567890",
        "-1000000",
        "9999.9999",
        "0.1",
        "100000000.00000001",
        "1e30",
        "-0.00012",
    ] {
        let set = query(
            &c,
            "SELECT $1::text::numeric AS v, $1::text::numeric::text AS t",
            vec![P::Str(text.into())],
        )
        .await
        .unwrap();
        let DbValue::Str(expected) = &set.rows[0][1] else {
            panic!("no text for {text}");
        };
        assert_eq!(
            dbg(&set.rows[0][0]),
            dbg(&V::Decimal(expected.clone())),
            "{text}"
        );
    }
    round_trip(
        &c,
        "numeric[]",
        P::ArrayDecimal(vec![Some("1.5".into()), None, Some("-2".into())]),
        T::ArrayDecimal,
        V::ArrayDecimal(vec![Some("1.5".into()), None, Some("-2".into())]),
        Some("{1.5,NULL,-2}"),
    )
    .await;
}

#[tokio::test]
async fn ranges() {
    let c = connect().await;
    use {DbDataType as T, DbValue as V, ParameterValue as P};
    let int4 = |lower, upper, expected, text| {
        round_trip(
            &c,
            "int4range",
            P::RangeInt32((lower, upper)),
            T::RangeInt32,
            V::RangeInt32(expected),
            Some(text),
        )
    };
    let half_open = (Some((1, Inclusive)), Some((10, Exclusive)));
    int4(half_open.0, half_open.1, half_open, "[1,10)").await;
    // PostgreSQL canonicalizes integer ranges to `[a,b)`.
    int4(
        Some((1, Inclusive)),
        Some((10, Inclusive)),
        (Some((1, Inclusive)), Some((11, Exclusive))),
        "[1,11)",
    )
    .await;
    int4(
        None,
        Some((5, Exclusive)),
        (None, Some((5, Exclusive))),
        "(,5)",
    )
    .await;
    int4(
        Some((5, Exclusive)),
        None,
        (Some((6, Inclusive)), None),
        "[6,)",
    )
    .await;
    int4(None, None, (None, None), "(,)").await;
    let empty = (Some((0, Exclusive)), Some((0, Exclusive)));
    int4(Some((10, Inclusive)), Some((1, Exclusive)), empty, "empty").await;
    // The empty range's WIT form is empty again when sent back.
    int4(empty.0, empty.1, empty, "empty").await;

    let big = (Some((i64::MIN, Inclusive)), Some((i64::MAX, Exclusive)));
    round_trip(
        &c,
        "int8range",
        P::RangeInt64(big),
        T::RangeInt64,
        V::RangeInt64(big),
        Some("[-9223372036854775808,9223372036854775807)"),
    )
    .await;

    let s = |v: &str| v.to_owned();
    let num = |lower: WitBound<String>, upper: WitBound<String>, text| {
        round_trip(
            &c,
            "numrange",
            P::RangeDecimal((lower.clone(), upper.clone())),
            T::RangeDecimal,
            V::RangeDecimal((lower, upper)),
            Some(text),
        )
    };
    num(
        Some((s("1.5"), Inclusive)),
        Some((s("2.25"), Inclusive)),
        "[1.5,2.25]",
    )
    .await;
    num(Some((s("-0.001"), Exclusive)), None, "(-0.001,)").await;
    num(None, Some((s("100"), Exclusive)), "(,100)").await;
    round_trip(
        &c,
        "numrange",
        P::RangeDecimal((Some((s("2"), Inclusive)), Some((s("1"), Inclusive)))),
        T::RangeDecimal,
        V::RangeDecimal((Some((s("0"), Exclusive)), Some((s("0"), Exclusive)))),
        Some("empty"),
    )
    .await;
}

#[tokio::test]
async fn arrays() {
    let c = connect().await;
    use {DbDataType as T, DbValue as V, ParameterValue as P};
    let ints = vec![Some(1), None, Some(-3)];
    round_trip(
        &c,
        "int4[]",
        P::ArrayInt32(ints.clone()),
        T::ArrayInt32,
        V::ArrayInt32(ints),
        Some("{1,NULL,-3}"),
    )
    .await;
    round_trip(
        &c,
        "int4[]",
        P::ArrayInt32(vec![]),
        T::ArrayInt32,
        V::ArrayInt32(vec![]),
        Some("{}"),
    )
    .await;
    let longs = vec![Some(i64::MAX), None];
    round_trip(
        &c,
        "int8[]",
        P::ArrayInt64(longs.clone()),
        T::ArrayInt64,
        V::ArrayInt64(longs),
        Some("{9223372036854775807,NULL}"),
    )
    .await;
    let strs = vec![Some("a b".to_owned()), None, Some(String::new())];
    for ty in ["text[]", "varchar[]"] {
        round_trip(
            &c,
            ty,
            P::ArrayStr(strs.clone()),
            T::ArrayStr,
            V::ArrayStr(strs.clone()),
            Some("{\"a b\",NULL,\"\"}"),
        )
        .await;
    }
}

#[tokio::test]
async fn intervals() {
    let c = connect().await;
    use {DbDataType as T, DbValue as V, ParameterValue as P};
    let interval = |micros, days, months| wit::Interval {
        micros,
        days,
        months,
    };
    let cases = [
        (
            interval(14_706_789_000, 3, 14),
            "1 year 2 mons 3 days 04:05:06.789",
        ),
        (interval(-1, -2, -3), "-3 mons -2 days -00:00:00.000001"),
        (interval(0, 0, 0), "00:00:00"),
    ];
    for (value, text) in cases {
        let expected = V::Interval(wit::Interval { ..value });
        round_trip(
            &c,
            "interval",
            P::Interval(value),
            T::Interval,
            expected,
            Some(text),
        )
        .await;
    }
}

#[tokio::test]
async fn unsupported_types_and_empty_results() {
    let c = connect().await;
    let set = query(
        &c,
        "SELECT '10.0.0.1'::inet AS addr, NULL::inet AS none",
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(
        dbg(&set.columns[0].data_type),
        dbg(&DbDataType::Other("inet".into()))
    );
    // inet's binary format: family (AF_INET), bits, is_cidr, length, address.
    assert_eq!(
        dbg(&set.rows[0][0]),
        dbg(&DbValue::Unsupported(vec![2, 32, 0, 4, 10, 0, 0, 1]))
    );
    assert_eq!(dbg(&set.rows[0][1]), dbg(&DbValue::DbNull));

    let set = query(
        &c,
        "SELECT 1::int4 AS a, 'x'::text AS b WHERE false",
        vec![],
    )
    .await
    .unwrap();
    assert!(set.rows.is_empty());
    let columns = set
        .columns
        .iter()
        .map(|c| (c.name.as_str(), dbg(&c.data_type)))
        .collect::<Vec<_>>();
    assert_eq!(
        columns,
        [("a", dbg(&DbDataType::Int32)), ("b", dbg(&DbDataType::Str))]
    );
}

#[tokio::test]
async fn errors() {
    let c = connect().await;
    match query(&c, "SELECT * FROM pg_values_no_such_table", vec![]).await {
        Err(Error::QueryFailed(QueryError::DbError(e))) => {
            assert_eq!(e.code, "42P01");
            assert_eq!(e.severity, "ERROR");
            assert!(
                e.message.contains("pg_values_no_such_table"),
                "{}",
                e.message
            );
            assert!(e.as_text.starts_with("db error: ERROR: "), "{}", e.as_text);
            assert!(e.as_text.contains(&e.message), "{}", e.as_text);
        }
        other => panic!("expected a db error, got {other:?}"),
    }

    c.batch_execute(
        "CREATE TEMP TABLE pg_values_t (id int4 CONSTRAINT pg_values_pk PRIMARY KEY);
         INSERT INTO pg_values_t VALUES (1);",
    )
    .await
    .unwrap();
    let insert = "INSERT INTO pg_values_t VALUES ($1) RETURNING id";
    match query(&c, insert, vec![ParameterValue::Int32(1)]).await {
        Err(Error::QueryFailed(QueryError::DbError(e))) => {
            assert_eq!(e.code, "23505");
            assert_eq!(e.detail.as_deref(), Some("Key (id)=(1) already exists."));
            let extra = |key: &str| {
                e.extras
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(extra("constraint"), Some("pg_values_pk"));
            assert_eq!(extra("table"), Some("pg_values_t"));
            assert!(extra("schema").is_some_and(|s| s.starts_with("pg_temp")));
        }
        other => panic!("expected a unique violation, got {other:?}"),
    }

    match query(&c, "SELECT pg_values_no_such_fn(1)", vec![]).await {
        Err(Error::QueryFailed(QueryError::DbError(e))) => {
            assert_eq!(e.code, "42883");
            assert!(e.extras.iter().any(|(k, _)| k == "hint"), "{:?}", e.extras);
        }
        other => panic!("expected undefined function, got {other:?}"),
    }

    // A parameter of the wrong type fails in the client, without a db error.
    match query(&c, "SELECT $1::text", vec![ParameterValue::Int32(1)]).await {
        Err(Error::QueryFailed(QueryError::Text(text))) => {
            assert!(text.contains("error serializing parameter 0"), "{text}");
            assert!(text.contains("i32"), "{text}");
        }
        other => panic!("expected a text query error, got {other:?}"),
    }

    match query(
        &c,
        "SELECT $1::uuid",
        vec![ParameterValue::Uuid("nope".into())],
    )
    .await
    {
        Err(Error::BadParameter(message)) => assert!(message.contains("nope"), "{message}"),
        other => panic!("expected bad-parameter, got {other:?}"),
    }

    // Once the server drops the connection, the connection is at fault.
    let _ = c
        .batch_execute("SELECT pg_terminate_backend(pg_backend_pid())")
        .await;
    match query(&c, "SELECT 1", vec![]).await {
        Err(Error::ConnectionFailed(text)) => assert!(text.contains("closed"), "{text}"),
        other => panic!("expected connection-failed, got {other:?}"),
    }
}
