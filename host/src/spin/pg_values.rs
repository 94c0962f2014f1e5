//! Conversions between the values of `spin:postgres/postgres@4.0.0` and
//! `tokio-postgres`.
//!
//! Parameters follow Spin's own host (`factor-outbound-pg`): every
//! [`ParameterValue`] becomes a Rust value whose `ToSql` implementation
//! serializes it in PostgreSQL's binary wire format. Results are converted
//! cell by cell according to the column's type, which comes from the prepared
//! statement so that an empty result still describes its columns.
//!
//! `tokio-postgres` has no range or interval types of its own, so this module
//! encodes and decodes those wire formats itself:
//!
//! * range: one flags byte, then each finite bound as a big-endian `i32`
//!   length followed by the element in its own binary format;
//! * interval: `i64` microseconds, `i32` days, `i32` months, all big-endian.
//!
//! Where this module deliberately departs from Spin's host it says so on the
//! item; each departure makes a value survive a round trip that Spin's host
//! would alter.

use std::error::Error as StdError;
use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::Row;

use super::spin::postgres::postgres::{
    self as wit, Column, DbDataType, DbValue, Error, ParameterValue, QueryError, RangeBoundKind,
    RowSet,
};

/// The error type `ToSql` and `FromSql` implementations return.
type BoxError = Box<dyn StdError + Sync + Send>;

/// A boxed, owned query parameter, as `tokio-postgres` takes them by reference.
pub type SqlParam = Box<dyn ToSql + Send + Sync>;

/// `(year, month, day)`, as in the WIT `date` case.
type WitDate = (i32, u8, u8);
/// `(hour, minute, second, nanosecond)`, as in the WIT `time` case.
type WitTime = (u8, u8, u8, u32);
/// `(year, month, day, hour, minute, second, nanosecond)`, always UTC.
type WitDatetime = (i32, u8, u8, u8, u8, u8, u32);
/// One side of a WIT range; `None` is unbounded.
type WitBound<T> = Option<(T, RangeBoundKind)>;

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

/// Converts a guest's query parameters into values `tokio-postgres` can
/// serialize.
///
/// A value that cannot be represented (malformed UUID, JSON or decimal,
/// impossible date or time) is rejected up front with
/// [`Error::BadParameter`], naming the 1-based parameter (`$n`) and the
/// problem, instead of surfacing later as an opaque serialization error.
// `Error` is the WIT-generated type the host hands back to the guest as is;
// boxing it just to satisfy the lint would only move the allocation around.
#[allow(clippy::result_large_err)]
pub fn to_sql_params(params: Vec<ParameterValue>) -> Result<Vec<SqlParam>, Error> {
    params
        .into_iter()
        .enumerate()
        .map(|(index, param)| {
            to_sql_param(param).map_err(|problem| {
                Error::BadParameter(format!("parameter ${}: {problem}", index + 1))
            })
        })
        .collect()
}

fn to_sql_param(param: ParameterValue) -> Result<SqlParam, String> {
    Ok(match param {
        ParameterValue::Boolean(v) => Box::new(v),
        // `i8` is what `tokio-postgres` maps PostgreSQL's one-byte `"char"` to.
        ParameterValue::Int8(v) => Box::new(v),
        ParameterValue::Int16(v) => Box::new(v),
        ParameterValue::Int32(v) => Box::new(v),
        ParameterValue::Int64(v) => Box::new(v),
        ParameterValue::Floating32(v) => Box::new(v),
        ParameterValue::Floating64(v) => Box::new(v),
        ParameterValue::Str(v) => Box::new(v),
        ParameterValue::Binary(v) => Box::new(v),
        ParameterValue::Date(v) => Box::new(date_from_wit(v)?),
        ParameterValue::Time(v) => Box::new(time_from_wit(v)?),
        ParameterValue::Datetime(v) => Box::new(UtcDateTime(datetime_from_wit(v)?)),
        ParameterValue::Timestamp(seconds) => {
            let instant = DateTime::<Utc>::from_timestamp(seconds, 0)
                .ok_or_else(|| format!("timestamp {seconds} is out of range"))?;
            Box::new(UtcDateTime(instant.naive_utc()))
        }
        ParameterValue::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(&v).map_err(|e| format!("invalid UUID {v:?}: {e}"))?)
        }
        ParameterValue::Jsonb(v) => Box::new(JsonText::parse(v)?),
        ParameterValue::Decimal(v) => Box::new(decimal_from_wit(&v)?),
        ParameterValue::RangeInt32((lower, upper)) => Box::new(PgRange::from_wit(lower, upper)),
        ParameterValue::RangeInt64((lower, upper)) => Box::new(PgRange::from_wit(lower, upper)),
        ParameterValue::RangeDecimal((lower, upper)) => Box::new(PgRange::from_wit(
            decimal_bound_from_wit(lower)?,
            decimal_bound_from_wit(upper)?,
        )),
        ParameterValue::ArrayInt32(v) => Box::new(v),
        ParameterValue::ArrayInt64(v) => Box::new(v),
        ParameterValue::ArrayDecimal(v) => Box::new(
            v.iter()
                .map(|d| d.as_deref().map(decimal_from_wit).transpose())
                .collect::<Result<Vec<_>, _>>()?,
        ),
        ParameterValue::ArrayStr(v) => Box::new(v),
        ParameterValue::Interval(v) => Box::new(PgInterval(v)),
        ParameterValue::DbNull => Box::new(Null),
    })
}

fn date_from_wit((year, month, day): WitDate) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(year, month.into(), day.into())
        .ok_or_else(|| format!("invalid date: year {year}, month {month}, day {day}"))
}

fn time_from_wit((hour, minute, second, nano): WitTime) -> Result<NaiveTime, String> {
    NaiveTime::from_hms_nano_opt(hour.into(), minute.into(), second.into(), nano)
        .ok_or_else(|| format!("invalid time: {hour}:{minute}:{second} and {nano} ns"))
}

fn datetime_from_wit(
    (year, month, day, hour, minute, second, nano): WitDatetime,
) -> Result<NaiveDateTime, String> {
    Ok(NaiveDateTime::new(
        date_from_wit((year, month, day))?,
        time_from_wit((hour, minute, second, nano))?,
    ))
}

/// Parses a decimal exactly, as Spin does: a value `rust_decimal` could only
/// store rounded (more than 28 significant digits) is rejected rather than
/// silently changed.
fn decimal_from_wit(text: &str) -> Result<rust_decimal::Decimal, String> {
    rust_decimal::Decimal::from_str_exact(text)
        .map_err(|e| format!("invalid decimal {text:?}: {e}"))
}

fn decimal_bound_from_wit(
    bound: WitBound<String>,
) -> Result<WitBound<rust_decimal::Decimal>, String> {
    bound
        .map(|(text, kind)| Ok((decimal_from_wit(&text)?, kind)))
        .transpose()
}

/// A NULL of whatever type the statement expects.
///
/// `Option::<T>::None` only type-checks against the types `T` accepts, but a
/// guest's `db-null` carries no type, so it must be accepted everywhere.
#[derive(Debug, Clone, Copy)]
pub struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A date-time the WIT interface defines as UTC.
///
/// chrono's `NaiveDateTime` only binds to `timestamp` and `DateTime<Utc>`
/// only to `timestamptz`; a guest's `datetime` or `timestamp` must bind to
/// either kind of column, so this accepts both and reads the value as UTC.
#[derive(Debug, Clone, Copy)]
pub struct UtcDateTime(pub NaiveDateTime);

impl ToSql for UtcDateTime {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if *ty == Type::TIMESTAMPTZ {
            self.0.and_utc().to_sql(ty, out)
        } else {
            self.0.to_sql(ty, out)
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ)
    }

    to_sql_checked!();
}

/// A guest's JSON document, checked for syntax and sent verbatim.
///
/// Spin's host parses the bytes into a `serde_json::Value` and serializes it
/// again, which turns integers beyond 64 bits and long decimals into `f64`s.
/// Validating and then passing the text through loses nothing; PostgreSQL
/// parses it anyway. (`json` and `jsonb` are both accepted, like
/// `serde_json::Value`.)
#[derive(Debug, Clone)]
pub struct JsonText(Vec<u8>);

impl JsonText {
    fn parse(bytes: Vec<u8>) -> Result<Self, String> {
        // `IgnoredAny` checks the syntax without building a tree, but skips
        // over string contents, so UTF-8 is checked separately.
        if let Err(e) = std::str::from_utf8(&bytes) {
            return Err(format!("invalid JSON: not UTF-8: {e}"));
        }
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
            .map_err(|e| format!("invalid JSON: {e}"))?;
        Ok(Self(bytes))
    }
}

/// The version byte that starts `jsonb`'s binary format.
const JSONB_VERSION: u8 = 1;

impl ToSql for JsonText {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if *ty == Type::JSONB {
            out.put_u8(JSONB_VERSION);
        }
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSON | Type::JSONB)
    }

    to_sql_checked!();
}

// ---------------------------------------------------------------------------
// Intervals
// ---------------------------------------------------------------------------

/// A PostgreSQL `interval`, which `tokio-postgres` has no type for.
#[derive(Debug, Clone, Copy)]
pub struct PgInterval(pub wit::Interval);

const INTERVAL_LEN: usize = 16;

impl ToSql for PgInterval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

impl FromSql<'_> for PgInterval {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, BoxError> {
        let raw: &[u8; INTERVAL_LEN] = raw
            .try_into()
            .map_err(|_| format!("interval is {} bytes, expected {INTERVAL_LEN}", raw.len()))?;
        let (micros, rest) = raw.split_at(8);
        let (days, months) = rest.split_at(4);
        Ok(Self(wit::Interval {
            micros: i64::from_be_bytes(micros.try_into()?),
            days: i32::from_be_bytes(days.try_into()?),
            months: i32::from_be_bytes(months.try_into()?),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

// ---------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------

// Flags byte of a range's binary format (PostgreSQL's `rangetypes.h`).
const RANGE_EMPTY: u8 = 0x01;
const RANGE_LB_INC: u8 = 0x02;
const RANGE_UB_INC: u8 = 0x04;
const RANGE_LB_INF: u8 = 0x08;
const RANGE_UB_INF: u8 = 0x10;

/// A type that can be a range's bound, with the PostgreSQL element type the
/// bound is encoded as.
pub trait RangeElement {
    fn element_type() -> Type;
}

impl RangeElement for i32 {
    fn element_type() -> Type {
        Type::INT4
    }
}

impl RangeElement for i64 {
    fn element_type() -> Type {
        Type::INT8
    }
}

impl RangeElement for rust_decimal::Decimal {
    fn element_type() -> Type {
        Type::NUMERIC
    }
}

impl RangeElement for NumericText {
    fn element_type() -> Type {
        Type::NUMERIC
    }
}

/// A PostgreSQL range over `T` (`int4range`, `int8range`, `numrange`, or a
/// user-defined range over the same element type).
#[derive(Debug, Clone, PartialEq)]
pub enum PgRange<T> {
    Empty,
    Bounds {
        lower: WitBound<T>,
        upper: WitBound<T>,
    },
}

impl<T: PartialOrd> PgRange<T> {
    /// Builds a range from the guest's bounds. Bounds that enclose nothing
    /// (lower above upper, or equal and not both inclusive) make the empty
    /// range, as in Spin's host, rather than an error from the server.
    pub fn from_wit(lower: WitBound<T>, upper: WitBound<T>) -> Self {
        if let (Some((lo, lo_kind)), Some((hi, hi_kind))) = (&lower, &upper) {
            let both_inclusive =
                *lo_kind == RangeBoundKind::Inclusive && *hi_kind == RangeBoundKind::Inclusive;
            let empty = if both_inclusive { lo > hi } else { lo >= hi };
            if empty {
                return Self::Empty;
            }
        }
        Self::Bounds { lower, upper }
    }
}

impl<T> PgRange<T> {
    /// The WIT form of the range.
    ///
    /// WIT has no empty range. Spin's host returns it as `(none, none)`, which
    /// reads as "unbounded" and turns into exactly that when sent back; this
    /// returns `(zero, zero)` with both bounds exclusive instead, which
    /// PostgreSQL reads as empty, so the value survives a round trip.
    pub fn into_wit(self, zero: impl Fn() -> T) -> (WitBound<T>, WitBound<T>) {
        match self {
            Self::Empty => (
                Some((zero(), RangeBoundKind::Exclusive)),
                Some((zero(), RangeBoundKind::Exclusive)),
            ),
            Self::Bounds { lower, upper } => (lower, upper),
        }
    }
}

/// The element type of the range type `ty`, falling back to `T`'s own.
fn range_element_type<T: RangeElement>(ty: &Type) -> Type {
    match ty.kind() {
        Kind::Range(element) => element.clone(),
        _ => T::element_type(),
    }
}

fn is_range_of<T: RangeElement>(ty: &Type) -> bool {
    matches!(ty.kind(), Kind::Range(element) if *element == T::element_type())
}

impl<T: RangeElement + ToSql> ToSql for PgRange<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let (lower, upper) = match self {
            Self::Empty => {
                out.put_u8(RANGE_EMPTY);
                return Ok(IsNull::No);
            }
            Self::Bounds { lower, upper } => (lower, upper),
        };
        let mut flags = 0;
        match lower {
            None => flags |= RANGE_LB_INF,
            Some((_, RangeBoundKind::Inclusive)) => flags |= RANGE_LB_INC,
            Some((_, RangeBoundKind::Exclusive)) => {}
        }
        match upper {
            None => flags |= RANGE_UB_INF,
            Some((_, RangeBoundKind::Inclusive)) => flags |= RANGE_UB_INC,
            Some((_, RangeBoundKind::Exclusive)) => {}
        }
        out.put_u8(flags);
        let element = range_element_type::<T>(ty);
        for (value, _) in [lower, upper].into_iter().flatten() {
            write_range_bound(value, &element, out)?;
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        is_range_of::<T>(ty)
    }

    to_sql_checked!();
}

/// Writes one finite bound: its length as a big-endian `i32`, then the value.
fn write_range_bound<T: ToSql>(value: &T, ty: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
    let start = out.len();
    out.put_i32(0);
    if let IsNull::Yes = value.to_sql(ty, out)? {
        return Err("a range bound cannot be NULL".into());
    }
    let len = i32::try_from(out.len() - start - 4)?;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

impl<'a, T: RangeElement + FromSql<'a>> FromSql<'a> for PgRange<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let (&flags, mut rest) = raw.split_first().ok_or("range value is empty")?;
        if flags & RANGE_EMPTY != 0 {
            if !rest.is_empty() {
                return Err("empty range has trailing bytes".into());
            }
            return Ok(Self::Empty);
        }
        let element = range_element_type::<T>(ty);
        let lower = read_range_bound(&mut rest, flags, RANGE_LB_INF, RANGE_LB_INC, &element)?;
        let upper = read_range_bound(&mut rest, flags, RANGE_UB_INF, RANGE_UB_INC, &element)?;
        if !rest.is_empty() {
            return Err("range value has trailing bytes".into());
        }
        Ok(Self::Bounds { lower, upper })
    }

    fn accepts(ty: &Type) -> bool {
        is_range_of::<T>(ty)
    }
}

fn read_range_bound<'a, T: FromSql<'a>>(
    rest: &mut &'a [u8],
    flags: u8,
    infinite: u8,
    inclusive: u8,
    ty: &Type,
) -> Result<WitBound<T>, BoxError> {
    if flags & infinite != 0 {
        return Ok(None);
    }
    let (len, tail) = rest
        .split_first_chunk::<4>()
        .ok_or("range bound length is truncated")?;
    let len =
        usize::try_from(i32::from_be_bytes(*len)).map_err(|_| "a range bound cannot be NULL")?;
    let (value, tail) = tail
        .split_at_checked(len)
        .ok_or("range bound value is truncated")?;
    *rest = tail;
    let kind = if flags & inclusive != 0 {
        RangeBoundKind::Inclusive
    } else {
        RangeBoundKind::Exclusive
    };
    Ok(Some((T::from_sql(ty, value)?, kind)))
}

// ---------------------------------------------------------------------------
// Numerics
// ---------------------------------------------------------------------------

/// A `numeric` as the exact text PostgreSQL would print for it.
///
/// Spin's host decodes `numeric` through `rust_decimal`, which fails on
/// `NaN`, the infinities and anything beyond 28 significant digits: all of
/// which are ordinary `numeric` values (an aggregate easily exceeds 28
/// digits). Decoding the base-10000 wire format directly has no such limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumericText(pub String);

// Sign word of `numeric`'s binary format (PostgreSQL's `numeric.c`).
const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

impl FromSql<'_> for NumericText {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, BoxError> {
        numeric_text(raw).map(Self)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// Renders `numeric`'s binary format (`ndigits`, `weight`, `sign`, `dscale`
/// as 16-bit words, then `ndigits` base-10000 digits, most significant first,
/// the first one worth `10000^weight`) the way PostgreSQL's `numeric_out`
/// does: `dscale` digits after the point, none if it is 0.
fn numeric_text(raw: &[u8]) -> Result<String, BoxError> {
    let (header, body) = raw
        .split_first_chunk::<8>()
        .ok_or("numeric value is truncated")?;
    let word = |i: usize| u16::from_be_bytes([header[2 * i], header[2 * i + 1]]);
    let ndigits = usize::from(word(0));
    let weight = i32::from(i16::from_be_bytes([header[2], header[3]]));
    let sign = word(2);
    let dscale = usize::from(word(3));
    if body.len() != 2 * ndigits {
        return Err(format!(
            "numeric has {} digit bytes, expected {}",
            body.len(),
            2 * ndigits
        )
        .into());
    }
    let digits = body
        .chunks_exact(2)
        .map(|d| u16::from_be_bytes([d[0], d[1]]))
        .collect::<Vec<_>>();
    if digits.iter().any(|&d| d > 9999) {
        return Err("numeric digit out of range".into());
    }
    let mut text = match sign {
        NUMERIC_POS => String::new(),
        NUMERIC_NEG => String::from("-"),
        NUMERIC_NAN => return Ok("NaN".to_owned()),
        NUMERIC_PINF => return Ok("Infinity".to_owned()),
        NUMERIC_NINF => return Ok("-Infinity".to_owned()),
        other => return Err(format!("invalid numeric sign {other:#06x}").into()),
    };
    // Digit `i` is worth 10000^(weight - i); positions outside the stored
    // digits are zero.
    let digit = |i: i32| {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .copied()
            .unwrap_or(0)
    };
    if weight < 0 {
        text.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                let _ = write!(text, "{}", digit(i));
            } else {
                let _ = write!(text, "{:04}", digit(i));
            }
        }
    }
    if dscale > 0 {
        text.push('.');
        let point = text.len();
        let mut i = weight + 1;
        while text.len() - point < dscale {
            let _ = write!(text, "{:04}", digit(i));
            i += 1;
        }
        text.truncate(point + dscale);
    }
    Ok(text)
}

// ---------------------------------------------------------------------------
// Other binary values
// ---------------------------------------------------------------------------

/// A PostgreSQL `time`, decoded from its microseconds since midnight.
///
/// chrono's `NaiveTime` wraps PostgreSQL's valid `24:00:00` around to
/// midnight; the WIT tuple can carry it as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgTime(pub WitTime);

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl FromSql<'_> for PgTime {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, BoxError> {
        let micros = i64::from_be_bytes(
            raw.try_into()
                .map_err(|_| format!("time is {} bytes, expected 8", raw.len()))?,
        );
        if !(0..=MICROS_PER_DAY).contains(&micros) {
            return Err(format!("time of {micros} microseconds is out of range").into());
        }
        let seconds = micros / 1_000_000;
        // All four are bounded by the range check above (hour <= 24).
        Ok(Self((
            u8::try_from(seconds / 3600)?,
            u8::try_from(seconds / 60 % 60)?,
            u8::try_from(seconds % 60)?,
            u32::try_from(micros % 1_000_000 * 1000)?,
        )))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIME
    }
}

/// A `json` or `jsonb` value as the JSON text the server sent (minus
/// `jsonb`'s version byte).
///
/// Spin's host round-trips it through `serde_json::Value`, losing precision
/// on large numbers; the server's text is already serialized JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJson(pub Vec<u8>);

impl FromSql<'_> for RawJson {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, BoxError> {
        let text = if *ty == Type::JSONB {
            match raw.split_first() {
                Some((&JSONB_VERSION, text)) => text,
                Some((version, _)) => {
                    return Err(format!("unsupported jsonb version {version}").into())
                }
                None => return Err("jsonb value is empty".into()),
            }
        } else {
            raw
        };
        Ok(Self(text.to_vec()))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSON | Type::JSONB)
    }
}

/// A value of any type, kept as the server's binary encoding. This is what a
/// guest gets, as `unsupported`, for types the interface has no case for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBytes(pub Vec<u8>);

impl FromSql<'_> for RawBytes {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, BoxError> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

/// The WIT data type a column of PostgreSQL type `ty` is reported as; its
/// values are converted accordingly by [`row_set`].
pub fn column_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB | Type::JSON => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY | Type::NAME_ARRAY => {
            DbDataType::ArrayStr
        }
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_owned()),
    }
}

/// Converts query results to the WIT row set.
///
/// `columns` come from the prepared statement rather than the first row, so
/// a query that returns no rows still tells the guest its columns. A value
/// that cannot be represented fails the whole result with
/// [`Error::ValueConversionFailed`] naming the column.
#[allow(clippy::result_large_err)] // See `to_sql_params`.
pub fn row_set(columns: &[tokio_postgres::Column], rows: &[Row]) -> Result<RowSet, Error> {
    let types = columns
        .iter()
        .map(|column| column_type(column.type_()))
        .collect::<Vec<_>>();
    let rows = rows
        .iter()
        .map(|row| {
            if row.len() != columns.len() {
                return Err(Error::ValueConversionFailed(format!(
                    "row has {} columns, the statement {}",
                    row.len(),
                    columns.len()
                )));
            }
            columns
                .iter()
                .zip(&types)
                .enumerate()
                .map(|(index, (column, data_type))| {
                    db_value(row, index, column.type_(), data_type).map_err(|problem| {
                        Error::ValueConversionFailed(format!(
                            "column `{}` ({}): {problem}",
                            column.name(),
                            column.type_().name()
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let columns = columns
        .iter()
        .zip(types)
        .map(|(column, data_type)| Column {
            name: column.name().to_owned(),
            data_type,
        })
        .collect();
    Ok(RowSet { columns, rows })
}

/// Reads cell `index` as `Option<T>` (`None` for NULL) and converts it.
fn cell<'a, T: FromSql<'a>>(
    row: &'a Row,
    index: usize,
    convert: impl FnOnce(T) -> DbValue,
) -> Result<DbValue, String> {
    let value = row
        .try_get::<_, Option<T>>(index)
        .map_err(|e| error_text(&e))?;
    Ok(value.map_or(DbValue::DbNull, convert))
}

fn db_value(row: &Row, index: usize, ty: &Type, data_type: &DbDataType) -> Result<DbValue, String> {
    match data_type {
        DbDataType::Boolean => cell(row, index, DbValue::Boolean),
        DbDataType::Int8 => cell(row, index, DbValue::Int8),
        DbDataType::Int16 => cell(row, index, DbValue::Int16),
        DbDataType::Int32 => cell(row, index, DbValue::Int32),
        DbDataType::Int64 => cell(row, index, DbValue::Int64),
        DbDataType::Floating32 => cell(row, index, DbValue::Floating32),
        DbDataType::Floating64 => cell(row, index, DbValue::Floating64),
        DbDataType::Str => cell(row, index, DbValue::Str),
        DbDataType::Binary => cell(row, index, DbValue::Binary),
        DbDataType::Date => cell(row, index, |d: NaiveDate| DbValue::Date(date_to_wit(d))),
        DbDataType::Time => cell(row, index, |t: PgTime| DbValue::Time(t.0)),
        DbDataType::Datetime if *ty == Type::TIMESTAMPTZ => {
            cell(row, index, |dt: DateTime<Utc>| {
                DbValue::Datetime(datetime_to_wit(dt.naive_utc()))
            })
        }
        DbDataType::Datetime => cell(row, index, |dt: NaiveDateTime| {
            DbValue::Datetime(datetime_to_wit(dt))
        }),
        DbDataType::Uuid => cell(row, index, |u: uuid::Uuid| DbValue::Uuid(u.to_string())),
        DbDataType::Jsonb => cell(row, index, |j: RawJson| DbValue::Jsonb(j.0)),
        DbDataType::Decimal => cell(row, index, |n: NumericText| DbValue::Decimal(n.0)),
        DbDataType::RangeInt32 => cell(row, index, |r: PgRange<i32>| {
            DbValue::RangeInt32(r.into_wit(|| 0))
        }),
        DbDataType::RangeInt64 => cell(row, index, |r: PgRange<i64>| {
            DbValue::RangeInt64(r.into_wit(|| 0))
        }),
        DbDataType::RangeDecimal => cell(row, index, |r: PgRange<NumericText>| {
            let (lower, upper) = r.into_wit(|| NumericText("0".to_owned()));
            let text = |bound: WitBound<NumericText>| bound.map(|(n, kind)| (n.0, kind));
            DbValue::RangeDecimal((text(lower), text(upper)))
        }),
        DbDataType::ArrayInt32 => cell(row, index, DbValue::ArrayInt32),
        DbDataType::ArrayInt64 => cell(row, index, DbValue::ArrayInt64),
        DbDataType::ArrayDecimal => cell(row, index, |a: Vec<Option<NumericText>>| {
            DbValue::ArrayDecimal(a.into_iter().map(|n| n.map(|n| n.0)).collect())
        }),
        DbDataType::ArrayStr => cell(row, index, DbValue::ArrayStr),
        DbDataType::Interval => cell(row, index, |i: PgInterval| DbValue::Interval(i.0)),
        // `column_type` never reports `timestamp` (a unix time has no column
        // type of its own); both it and `other` are passed through raw.
        DbDataType::Timestamp | DbDataType::Other(_) => {
            cell(row, index, |r: RawBytes| DbValue::Unsupported(r.0))
        }
    }
}

fn date_to_wit(date: NaiveDate) -> WitDate {
    // chrono keeps month in 1..=12 and day in 1..=31, so the casts are exact.
    (date.year(), date.month() as u8, date.day() as u8)
}

fn datetime_to_wit(dt: NaiveDateTime) -> WitDatetime {
    let (year, month, day) = date_to_wit(dt.date());
    // chrono keeps hour < 24, minute < 60 and second < 60 (leap seconds are
    // carried in the nanoseconds), so the casts are exact.
    (
        year,
        month,
        day,
        dt.hour() as u8,
        dt.minute() as u8,
        dt.second() as u8,
        dt.nanosecond(),
    )
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Converts a `tokio-postgres` error to the WIT error.
///
/// * An error the server reported becomes `query-failed(db-error)` with its
///   SQLSTATE code, severity, message, detail and, as `extras`, whichever of
///   Spin's extra fields are present (same keys as Spin's host, including
///   `where_`).
/// * A closed connection or an I/O failure becomes `connection-failed`: the
///   query did not fail, the connection did.
/// * Anything else becomes `query-failed(text)`.
///
/// `tokio-postgres` 0.7 prints only the error's kind (for example just
/// "db error"), so the texts include the chain of sources as well.
pub fn query_error(e: tokio_postgres::Error) -> Error {
    let text = error_text(&e);
    if let Some(db) = e.as_db_error() {
        let optional = [
            ("column", db.column()),
            ("constraint", db.constraint()),
            ("routine", db.routine()),
            ("hint", db.hint()),
            ("table", db.table()),
            ("datatype", db.datatype()),
            ("schema", db.schema()),
            ("file", db.file()),
        ];
        let mut extras = optional
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| (key.to_owned(), v.to_owned())))
            .collect::<Vec<_>>();
        if let Some(line) = db.line() {
            extras.push(("line".to_owned(), line.to_string()));
        }
        if let Some(where_) = db.where_() {
            extras.push(("where_".to_owned(), where_.to_owned()));
        }
        return Error::QueryFailed(QueryError::DbError(wit::DbError {
            as_text: text,
            severity: db.severity().to_owned(),
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            detail: db.detail().map(str::to_owned),
            extras,
        }));
    }
    if e.is_closed() || has_io_source(&e) {
        return Error::ConnectionFailed(text);
    }
    Error::QueryFailed(QueryError::Text(text))
}

fn has_io_source(e: &(dyn StdError + 'static)) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// `e` followed by each of its sources, separated by ": ".
fn error_text(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(text, ": {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests;

/// Round trips through a real PostgreSQL.
#[cfg(test)]
mod live;
