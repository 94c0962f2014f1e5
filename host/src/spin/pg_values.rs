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
mod tests {
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
        for (micros, days, months) in [(0, 0, 0), (14_706_789_000, 3, 14), (i64::MIN, -1, i32::MAX)]
        {
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
}

/// Round trips through a real PostgreSQL (`host=127.0.0.1 user=root
/// dbname=postgres`, trust authentication). Each value is sent as `$1::type`
/// and checked three ways: the column's WIT type, the WIT value read back,
/// and the server's own `::text` rendering of what it received.
#[cfg(test)]
mod live {
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
    async fn query(
        client: &Client,
        sql: &str,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, Error> {
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
        let normalized =
            r#"{"a": "x", "b": [1, 2.50, null], "big": 123456789012345678901234567890}"#;
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
}
