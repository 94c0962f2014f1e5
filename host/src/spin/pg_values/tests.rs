use std::fmt::Debug;

use super::*;
use RangeBoundKind::{Exclusive, Inclusive};

fn dbg(value: &impl Debug) -> String {
    format!("{value:?}")
}

/// Converts one parameter and serializes it as a value of type `ty`;
/// `None` stands for NULL.
fn encode(param: ParameterValue, ty: &Type) -> Result<Option<Vec<u8>>, BoxError> {
    let params = to_sql_params(vec![param]).map_err(|e| format!("{e:?}"))?;
    assert_eq!(params.len(), 1);
    let mut out = BytesMut::new();
    Ok(match params[0].to_sql_checked(ty, &mut out)? {
        IsNull::Yes => None,
        IsNull::No => Some(out.to_vec()),
    })
}

fn bytes(param: ParameterValue, ty: &Type) -> Vec<u8> {
    let shown = dbg(&param);
    encode(param, ty)
        .unwrap_or_else(|e| panic!("{shown} as {ty}: {e}"))
        .unwrap_or_else(|| panic!("{shown} as {ty} was NULL"))
}

fn be(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn bad_parameter(param: ParameterValue) -> String {
    let shown = dbg(&param);
    match to_sql_params(vec![ParameterValue::Int32(1), param]) {
        Err(Error::BadParameter(message)) => {
            assert!(message.starts_with("parameter $2: "), "{message}");
            message
        }
        Err(other) => panic!("{shown}: expected bad-parameter, got {other:?}"),
        Ok(_) => panic!("{shown}: expected bad-parameter, got a value"),
    }
}

#[test]
fn scalar_parameters_encode_as_their_postgres_types() {
    assert_eq!(bytes(ParameterValue::Boolean(true), &Type::BOOL), [1]);
    assert_eq!(bytes(ParameterValue::Int8(-3), &Type::CHAR), [0xfd]);
    assert_eq!(
        bytes(ParameterValue::Int16(-2), &Type::INT2),
        (-2i16).to_be_bytes()
    );
    assert_eq!(
        bytes(ParameterValue::Int32(7), &Type::INT4),
        7i32.to_be_bytes()
    );
    assert_eq!(
        bytes(ParameterValue::Int64(-9), &Type::INT8),
        (-9i64).to_be_bytes()
    );
    assert_eq!(
        bytes(ParameterValue::Floating32(1.5), &Type::FLOAT4),
        1.5f32.to_be_bytes()
    );
    assert_eq!(
        bytes(ParameterValue::Floating64(-0.25), &Type::FLOAT8),
        (-0.25f64).to_be_bytes()
    );
    for ty in [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME] {
        assert_eq!(
            bytes(ParameterValue::Str("hé".into()), &ty),
            "hé".as_bytes()
        );
    }
    assert_eq!(
        bytes(ParameterValue::Binary(vec![0, 255]), &Type::BYTEA),
        [0, 255]
    );
    // A mismatched type is refused by `to_sql_checked`, not garbled.
    assert!(encode(ParameterValue::Int32(1), &Type::TEXT).is_err());
    assert!(encode(ParameterValue::Int8(1), &Type::INT2).is_err());
}

#[test]
fn date_and_time_parameters_encode_relative_to_2000() {
    assert_eq!(
        bytes(ParameterValue::Date((2000, 1, 2)), &Type::DATE),
        1i32.to_be_bytes()
    );
    assert_eq!(
        bytes(ParameterValue::Date((1999, 12, 31)), &Type::DATE),
        (-1i32).to_be_bytes()
    );
    // Microsecond precision: the 500 ns are dropped.
    assert_eq!(
        bytes(ParameterValue::Time((1, 0, 2, 3_000_500)), &Type::TIME),
        3_602_003_000i64.to_be_bytes()
    );
    let one_second = 1_000_000i64.to_be_bytes();
    for ty in [Type::TIMESTAMP, Type::TIMESTAMPTZ] {
        assert_eq!(
            bytes(ParameterValue::Datetime((2000, 1, 1, 0, 0, 1, 0)), &ty),
            one_second
        );
        assert_eq!(
            bytes(ParameterValue::Timestamp(946_684_801), &ty),
            one_second
        );
        assert_eq!(
            bytes(ParameterValue::Timestamp(0), &ty),
            (-946_684_800_000_000i64).to_be_bytes()
        );
    }
    assert!(encode(
        ParameterValue::Datetime((2000, 1, 1, 0, 0, 0, 0)),
        &Type::DATE
    )
    .is_err());
}

#[test]
fn uuid_json_and_decimal_parameters_encode() {
    let uuid = "67E55044-10B1-426F-9247-BB680E5FE0C8";
    assert_eq!(
        bytes(ParameterValue::Uuid(uuid.into()), &Type::UUID),
        uuid::Uuid::parse_str(uuid).unwrap().as_bytes()
    );
    let json = br#"{"big": 123456789012345678901234567890, "x": [1.10]}"#;
    assert_eq!(
        bytes(ParameterValue::Jsonb(json.to_vec()), &Type::JSONB),
        be(&[&[1], json])
    );
    assert_eq!(
        bytes(ParameterValue::Jsonb(json.to_vec()), &Type::JSON),
        json
    );
    let numeric = bytes(ParameterValue::Decimal("-12.50".into()), &Type::NUMERIC);
    assert_eq!(numeric_text(&numeric).unwrap(), "-12.50");
}

#[test]
fn range_array_interval_and_null_parameters_encode() {
    let range = ParameterValue::RangeInt32((Some((1, Inclusive)), Some((10, Exclusive))));
    assert_eq!(
        bytes(range, &Type::INT4_RANGE),
        be(&[
            &[RANGE_LB_INC],
            &[0, 0, 0, 4],
            &[0, 0, 0, 1],
            &[0, 0, 0, 4],
            &[0, 0, 0, 10]
        ])
    );
    let range = ParameterValue::RangeInt64((None, Some((5, Inclusive))));
    assert_eq!(
        bytes(range, &Type::INT8_RANGE),
        be(&[
            &[RANGE_LB_INF | RANGE_UB_INC],
            &[0, 0, 0, 8],
            &5i64.to_be_bytes()
        ])
    );
    let range = ParameterValue::RangeDecimal((Some(("1.5".into(), Exclusive)), None));
    let encoded = bytes(range, &Type::NUM_RANGE);
    assert_eq!(encoded[0], RANGE_UB_INF);
    let decoded = PgRange::<NumericText>::from_sql(&Type::NUM_RANGE, &encoded).unwrap();
    assert_eq!(
        decoded,
        PgRange::Bounds {
            lower: Some((NumericText("1.5".into()), Exclusive)),
            upper: None
        }
    );
    // int4range is not int8range.
    assert!(encode(ParameterValue::RangeInt32((None, None)), &Type::INT8_RANGE).is_err());

    let arrays = [
        (
            ParameterValue::ArrayInt32(vec![Some(1), None]),
            Type::INT4_ARRAY,
        ),
        (
            ParameterValue::ArrayInt64(vec![Some(1), None]),
            Type::INT8_ARRAY,
        ),
        (
            ParameterValue::ArrayDecimal(vec![Some("1.5".into()), None]),
            Type::NUMERIC_ARRAY,
        ),
        (
            ParameterValue::ArrayStr(vec![Some("a".into()), None]),
            Type::TEXT_ARRAY,
        ),
        (ParameterValue::ArrayStr(vec![]), Type::VARCHAR_ARRAY),
    ];
    for (param, ty) in arrays {
        bytes(param, &ty);
    }

    let interval = wit::Interval {
        micros: -1,
        days: 2,
        months: -3,
    };
    assert_eq!(
        bytes(ParameterValue::Interval(interval), &Type::INTERVAL),
        be(&[
            &(-1i64).to_be_bytes(),
            &2i32.to_be_bytes(),
            &(-3i32).to_be_bytes()
        ])
    );

    for ty in [
        Type::INT4,
        Type::TEXT,
        Type::JSONB,
        Type::INT4_RANGE,
        Type::INET,
    ] {
        assert_eq!(encode(ParameterValue::DbNull, &ty).unwrap(), None, "{ty}");
    }
}

#[test]
fn every_parameter_variant_converts() {
    let params = vec![
        ParameterValue::Boolean(false),
        ParameterValue::Int8(1),
        ParameterValue::Int16(1),
        ParameterValue::Int32(1),
        ParameterValue::Int64(1),
        ParameterValue::Floating32(1.0),
        ParameterValue::Floating64(1.0),
        ParameterValue::Str("s".into()),
        ParameterValue::Binary(vec![1]),
        ParameterValue::Date((2024, 2, 29)),
        ParameterValue::Time((23, 59, 59, 999_999_999)),
        ParameterValue::Datetime((2024, 2, 29, 23, 59, 59, 0)),
        ParameterValue::Timestamp(-1),
        ParameterValue::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
        ParameterValue::Jsonb(b"null".to_vec()),
        ParameterValue::Decimal("-0.001".into()),
        ParameterValue::RangeInt32((None, None)),
        ParameterValue::RangeInt64((Some((1, Inclusive)), None)),
        ParameterValue::RangeDecimal((None, Some(("2".into(), Inclusive)))),
        ParameterValue::ArrayInt32(vec![None]),
        ParameterValue::ArrayInt64(vec![Some(1)]),
        ParameterValue::ArrayDecimal(vec![Some("1".into())]),
        ParameterValue::ArrayStr(vec![None]),
        ParameterValue::Interval(wit::Interval {
            micros: 0,
            days: 0,
            months: 0,
        }),
        ParameterValue::DbNull,
    ];
    let count = params.len();
    assert_eq!(to_sql_params(params).unwrap().len(), count);
}

#[test]
fn malformed_parameters_are_bad_parameters() {
    let message = bad_parameter(ParameterValue::Uuid("not-a-uuid".into()));
    assert!(message.contains("invalid UUID \"not-a-uuid\""), "{message}");
    for json in [&b"{"[..], b"{} x", b"", b"\"\xff\""] {
        let message = bad_parameter(ParameterValue::Jsonb(json.to_vec()));
        assert!(message.contains("invalid JSON"), "{message}");
    }
    for decimal in [
        "1.2.3",
        "",
        "abc",
        "1e5",
        "123456789012345678901234567890.5",
    ] {
        let message = bad_parameter(ParameterValue::Decimal(decimal.into()));
        assert!(message.contains("invalid decimal"), "{message}");
    }
    let message = bad_parameter(ParameterValue::Date((2023, 2, 29)));
    assert!(message.contains("invalid date"), "{message}");
    bad_parameter(ParameterValue::Date((2024, 13, 1)));
    bad_parameter(ParameterValue::Date((2024, 1, 0)));
    let message = bad_parameter(ParameterValue::Time((24, 0, 0, 0)));
    assert!(message.contains("invalid time"), "{message}");
    bad_parameter(ParameterValue::Time((1, 60, 0, 0)));
    bad_parameter(ParameterValue::Time((1, 0, 0, 2_000_000_000)));
    bad_parameter(ParameterValue::Datetime((2024, 2, 30, 0, 0, 0, 0)));
    bad_parameter(ParameterValue::Datetime((2024, 2, 1, 0, 0, 61, 0)));
    let message = bad_parameter(ParameterValue::Timestamp(i64::MAX));
    assert!(message.contains("out of range"), "{message}");
    bad_parameter(ParameterValue::RangeDecimal((
        None,
        Some(("x".into(), Inclusive)),
    )));
    bad_parameter(ParameterValue::ArrayDecimal(vec![None, Some("1,5".into())]));
}

#[test]
fn column_types_map_to_wit_data_types() {
    let cases = [
        (Type::BOOL, DbDataType::Boolean),
        (Type::CHAR, DbDataType::Int8),
        (Type::INT2, DbDataType::Int16),
        (Type::INT4, DbDataType::Int32),
        (Type::INT8, DbDataType::Int64),
        (Type::FLOAT4, DbDataType::Floating32),
        (Type::FLOAT8, DbDataType::Floating64),
        (Type::TEXT, DbDataType::Str),
        (Type::VARCHAR, DbDataType::Str),
        (Type::BPCHAR, DbDataType::Str),
        (Type::NAME, DbDataType::Str),
        (Type::BYTEA, DbDataType::Binary),
        (Type::DATE, DbDataType::Date),
        (Type::TIME, DbDataType::Time),
        (Type::TIMESTAMP, DbDataType::Datetime),
        (Type::TIMESTAMPTZ, DbDataType::Datetime),
        (Type::UUID, DbDataType::Uuid),
        (Type::JSONB, DbDataType::Jsonb),
        (Type::JSON, DbDataType::Jsonb),
        (Type::NUMERIC, DbDataType::Decimal),
        (Type::INT4_RANGE, DbDataType::RangeInt32),
        (Type::INT8_RANGE, DbDataType::RangeInt64),
        (Type::NUM_RANGE, DbDataType::RangeDecimal),
        (Type::INT4_ARRAY, DbDataType::ArrayInt32),
        (Type::INT8_ARRAY, DbDataType::ArrayInt64),
        (Type::NUMERIC_ARRAY, DbDataType::ArrayDecimal),
        (Type::TEXT_ARRAY, DbDataType::ArrayStr),
        (Type::VARCHAR_ARRAY, DbDataType::ArrayStr),
        (Type::BPCHAR_ARRAY, DbDataType::ArrayStr),
        (Type::INTERVAL, DbDataType::Interval),
        (Type::INET, DbDataType::Other("inet".into())),
        (Type::TIMETZ, DbDataType::Other("timetz".into())),
        (Type::INT2_ARRAY, DbDataType::Other("_int2".into())),
        (Type::DATE_RANGE, DbDataType::Other("daterange".into())),
    ];
    for (ty, expected) in cases {
        assert_eq!(dbg(&column_type(&ty)), dbg(&expected), "{ty}");
    }
}

fn range_round_trip<T>(range: PgRange<T>, ty: &Type) -> Vec<u8>
where
    T: RangeElement + ToSql + for<'a> FromSql<'a> + PartialEq + Debug,
{
    let mut out = BytesMut::new();
    assert!(matches!(
        range.to_sql_checked(ty, &mut out).unwrap(),
        IsNull::No
    ));
    assert!(<PgRange<T> as FromSql>::accepts(ty));
    let decoded = PgRange::<T>::from_sql(ty, &out).unwrap();
    assert_eq!(decoded, range);
    out.to_vec()
}

#[test]
fn int_ranges_round_trip() {
    let cases = [
        (Some((1, Inclusive)), Some((10, Exclusive))),
        (Some((-5, Exclusive)), Some((5, Inclusive))),
        (None, Some((5, Inclusive))),
        (Some((i32::MIN, Inclusive)), None),
        (None, None),
        (Some((3, Inclusive)), Some((3, Inclusive))),
    ];
    for (lower, upper) in cases {
        let range = PgRange::from_wit(lower, upper);
        assert!(matches!(range, PgRange::Bounds { .. }));
        range_round_trip(range, &Type::INT4_RANGE);
    }
    let encoded = range_round_trip(PgRange::<i32>::from_wit(None, None), &Type::INT4_RANGE);
    assert_eq!(encoded, [RANGE_LB_INF | RANGE_UB_INF]);
    let range = PgRange::from_wit(Some((i64::MIN, Exclusive)), Some((i64::MAX, Inclusive)));
    let encoded = range_round_trip(range, &Type::INT8_RANGE);
    assert_eq!(encoded.len(), 1 + 2 * (4 + 8));
    assert_eq!(encoded[0], RANGE_UB_INC);
}

#[test]
fn bounds_enclosing_nothing_make_the_empty_range() {
    for (lower, upper) in [
        (Some((10, Inclusive)), Some((1, Inclusive))),
        (Some((3, Inclusive)), Some((3, Exclusive))),
        (Some((3, Exclusive)), Some((3, Inclusive))),
        (Some((0, Exclusive)), Some((0, Exclusive))),
    ] {
        let range = PgRange::from_wit(lower, upper);
        assert_eq!(range, PgRange::Empty);
        assert_eq!(range_round_trip(range, &Type::INT4_RANGE), [RANGE_EMPTY]);
    }
    // The empty range's WIT form reads as empty again.
    let (lower, upper) = PgRange::<i32>::Empty.into_wit(|| 0);
    assert_eq!(PgRange::from_wit(lower, upper), PgRange::Empty);
}

#[test]
fn numeric_ranges_round_trip_through_text() {
    let decimal = |s: &str| rust_decimal::Decimal::from_str_exact(s).unwrap();
    let range = PgRange::from_wit(
        Some((decimal("-1.50"), Inclusive)),
        Some((decimal("123456.789"), Exclusive)),
    );
    let mut out = BytesMut::new();
    range.to_sql_checked(&Type::NUM_RANGE, &mut out).unwrap();
    let decoded = PgRange::<NumericText>::from_sql(&Type::NUM_RANGE, &out).unwrap();
    assert_eq!(
        decoded.into_wit(|| NumericText("0".into())),
        (
            Some((NumericText("-1.50".into()), Inclusive)),
            Some((NumericText("123456.789".into()), Exclusive))
        )
    );
}

#[test]
fn malformed_ranges_are_rejected() {
    let read = |raw: &[u8]| PgRange::<i32>::from_sql(&Type::INT4_RANGE, raw);
    assert!(read(&[]).is_err());
    assert!(read(&[RANGE_EMPTY, 0]).is_err());
    assert!(read(&[RANGE_LB_INF | RANGE_UB_INF, 0]).is_err());
    assert!(read(&[RANGE_UB_INF, 0, 0, 0, 4, 0, 0, 1]).is_err());
    assert!(read(&[RANGE_UB_INF, 0xff, 0xff, 0xff, 0xff]).is_err());
    assert!(read(&[RANGE_UB_INF, 0, 0]).is_err());
    assert!(read(&[RANGE_UB_INF, 0, 0, 0, 2, 0, 1]).is_err());
}

#[test]
fn intervals_round_trip() {
    for (micros, days, months) in [(0, 0, 0), (14_706_789_000, 3, 14), (i64::MIN, -1, i32::MAX)] {
        let interval = PgInterval(wit::Interval {
            micros,
            days,
            months,
        });
        let mut out = BytesMut::new();
        interval.to_sql_checked(&Type::INTERVAL, &mut out).unwrap();
        assert_eq!(
            out.to_vec(),
            be(&[
                &micros.to_be_bytes(),
                &days.to_be_bytes(),
                &months.to_be_bytes()
            ])
        );
        let decoded = PgInterval::from_sql(&Type::INTERVAL, &out).unwrap().0;
        assert_eq!(
            (decoded.micros, decoded.days, decoded.months),
            (micros, days, months)
        );
    }
    assert!(PgInterval::from_sql(&Type::INTERVAL, &[0; 15]).is_err());
    assert!(PgInterval(wit::Interval {
        micros: 0,
        days: 0,
        months: 0
    })
    .to_sql_checked(&Type::TIME, &mut BytesMut::new())
    .is_err());
}

fn numeric(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
    let mut raw = [ndigits, weight as u16, sign, dscale]
        .iter()
        .flat_map(|w| w.to_be_bytes())
        .collect::<Vec<_>>();
    raw.extend(digits.iter().flat_map(|d| d.to_be_bytes()));
    raw
}

#[test]
fn numerics_render_like_postgres() {
    let cases: [(Vec<u8>, &str); 9] = [
        (numeric(0, 0, NUMERIC_POS, 0, &[]), "0"),
        (numeric(0, 0, NUMERIC_POS, 3, &[]), "0.000"),
        (numeric(2, 0, NUMERIC_POS, 2, &[1, 5000]), "1.50"),
        (numeric(1, -1, NUMERIC_NEG, 4, &[1]), "-0.0001"),
        (numeric(1, -2, NUMERIC_POS, 8, &[1]), "0.00000001"),
        (
            numeric(6, 2, NUMERIC_POS, 9, &[1, 2345, 6789, 0, 0, 1000]),
            "123456789.000000001",
        ),
        (numeric(1, 1, NUMERIC_NEG, 0, &[1]), "-10000"),
        (numeric(0, 0, NUMERIC_NAN, 0, &[]), "NaN"),
        (numeric(0, 0, NUMERIC_NINF, 0, &[]), "-Infinity"),
    ];
    for (raw, expected) in cases {
        assert_eq!(numeric_text(&raw).unwrap(), expected);
    }
    assert_eq!(
        numeric_text(&numeric(0, 0, NUMERIC_PINF, 0, &[])).unwrap(),
        "Infinity"
    );
    assert!(numeric_text(&numeric(2, 0, NUMERIC_POS, 0, &[1])).is_err());
    assert!(numeric_text(&numeric(1, 0, NUMERIC_POS, 0, &[10_000])).is_err());
    assert!(numeric_text(&numeric(0, 0, 0x1234, 0, &[])).is_err());
    assert!(numeric_text(&[0, 0, 0]).is_err());
}

#[test]
fn numerics_encoded_by_rust_decimal_render_unchanged() {
    for text in [
        "0",
        "1",
        "-1.50",
        "100",
        "10000",
        "123456789",
        "0.000001",
        "-0.5",
        "9999.9999",
        "79228162514264337593543950335",
        "-7.9228162514264337593543950335",
    ] {
        let mut out = BytesMut::new();
        rust_decimal::Decimal::from_str_exact(text)
            .unwrap()
            .to_sql(&Type::NUMERIC, &mut out)
            .unwrap();
        assert_eq!(NumericText::from_sql(&Type::NUMERIC, &out).unwrap().0, text);
    }
}

#[test]
fn time_json_and_raw_values_decode() {
    let time = |micros: i64| PgTime::from_sql(&Type::TIME, &micros.to_be_bytes());
    assert_eq!(time(0).unwrap().0, (0, 0, 0, 0));
    assert_eq!(time(3_723_000_004).unwrap().0, (1, 2, 3, 4_000));
    assert_eq!(time(MICROS_PER_DAY).unwrap().0, (24, 0, 0, 0));
    assert!(time(MICROS_PER_DAY + 1).is_err());
    assert!(time(-1).is_err());

    assert_eq!(
        RawJson::from_sql(&Type::JSONB, b"\x01[1]").unwrap().0,
        b"[1]"
    );
    assert_eq!(
        RawJson::from_sql(&Type::JSON, b" [1] ").unwrap().0,
        b" [1] "
    );
    assert!(RawJson::from_sql(&Type::JSONB, b"\x02[1]").is_err());
    assert!(RawJson::from_sql(&Type::JSONB, b"").is_err());

    assert!(<RawBytes as FromSql>::accepts(&Type::INET));
    assert_eq!(RawBytes::from_sql(&Type::INET, &[1, 2]).unwrap().0, [1, 2]);
}

#[test]
fn datetime_conversions_are_exact() {
    let dt = datetime_from_wit((2024, 2, 29, 13, 14, 15, 123_456_789)).unwrap();
    assert_eq!(datetime_to_wit(dt), (2024, 2, 29, 13, 14, 15, 123_456_789));
    let date = date_from_wit((-44, 3, 15)).unwrap();
    assert_eq!(date_to_wit(date), (-44, 3, 15));
}
