//! Typed Arrow columns from tokenized records, with a reason for every value that
//! does not fit its column.
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, LargeStringBuilder, NullBufferBuilder, PrimitiveArray, StringBuilder,
};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Field, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};

use super::dialect::ValueFormat;
use super::tokenize::Records;
use super::values;

/// A record that cannot be converted.
#[derive(Debug, Clone)]
pub struct RowError {
    /// Index of the record in its [`Records`].
    pub record: usize,
    /// 0-based field, or `None` for a record-level problem.
    pub column: Option<usize>,
    pub reason: String,
    /// Byte offset in the chunk whose line to report, when it is not the record's start.
    pub at: Option<usize>,
}

/// Types a column may have (explicit schemas are checked against this list).
pub fn is_supported(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64
            | DataType::Date32
            | DataType::Timestamp(_, _)
    )
}

/// Columns for `records[from..]` (in schema order) and the row errors found, sorted by
/// record then column. Rows with errors hold nulls; the caller fails or filters them.
pub fn build_columns(
    rec: &Records,
    from: usize,
    fields: &[Arc<Field>],
    values: &ValueFormat,
) -> (Vec<ArrayRef>, Vec<RowError>) {
    let n = fields.len();
    let rows = rec.len().saturating_sub(from);
    let mut errors = Vec::new();
    let mut ragged = Vec::new();
    for r in from..rec.len() {
        let nf = rec.num_fields(r);
        if !rec.fits(r, n) {
            if ragged.is_empty() {
                ragged = vec![false; rows];
            }
            ragged[r - from] = true;
            errors.push(RowError {
                record: r,
                column: Some(nf.min(n)),
                reason: format!("expected {n} fields, found {nf}"),
                at: None,
            });
        }
    }
    let mut cols = Vec::with_capacity(n);
    for (c, field) in fields.iter().enumerate() {
        let mut b = ColumnBuilder {
            rec,
            from,
            c,
            field,
            ragged: &ragged,
            errors: &mut errors,
            values,
        };
        cols.push(b.build());
    }
    errors.sort_by_key(|e| (e.record, e.column.unwrap_or(usize::MAX)));
    (cols, errors)
}

fn shown(v: &[u8]) -> String {
    const MAX: usize = 40;
    let s = String::from_utf8_lossy(&v[..v.len().min(MAX)]);
    if v.len() > MAX {
        format!("{s:?}…")
    } else {
        format!("{s:?}")
    }
}

struct ColumnBuilder<'a, 'e> {
    rec: &'a Records,
    from: usize,
    c: usize,
    field: &'a Field,
    ragged: &'a [bool],
    errors: &'e mut Vec<RowError>,
    values: &'a ValueFormat,
}

impl<'a> ColumnBuilder<'a, '_> {
    fn rows(&self) -> usize {
        self.rec.len().saturating_sub(self.from)
    }

    /// The value of row `i`, or `None` for a null (empty cell or ragged row).
    #[inline]
    fn value(&mut self, i: usize) -> Option<&'a [u8]> {
        if self.ragged.get(i).copied().unwrap_or(false) {
            return None;
        }
        let r = self.from + i;
        let rec: &'a Records = self.rec;
        let v = rec.field(r, self.c);
        if v.is_empty() {
            if !self.field.is_nullable() {
                self.errors.push(RowError {
                    record: r,
                    column: Some(self.c),
                    reason: "missing value in a non-nullable column".into(),
                    at: None,
                });
            }
            return None;
        }
        Some(v)
    }

    fn fail(&mut self, i: usize, reason: String) {
        self.errors.push(RowError {
            record: self.from + i,
            column: Some(self.c),
            reason,
            at: None,
        });
    }

    fn build(&mut self) -> ArrayRef {
        let dt = self.field.data_type().clone();
        let f = self.values;
        match &dt {
            DataType::Utf8 => self.strings(),
            DataType::LargeUtf8 => self.large_strings(),
            DataType::Boolean => self.bools(),
            DataType::Int8 => self.ints::<Int8Type>(&dt),
            DataType::Int16 => self.ints::<Int16Type>(&dt),
            DataType::Int32 => self.ints::<Int32Type>(&dt),
            DataType::Int64 => self.primitive::<Int64Type>(&dt, "int64", |v| f.parse_i64(v)),
            DataType::UInt8 => self.ints::<UInt8Type>(&dt),
            DataType::UInt16 => self.ints::<UInt16Type>(&dt),
            DataType::UInt32 => self.ints::<UInt32Type>(&dt),
            DataType::UInt64 => self.primitive::<UInt64Type>(&dt, "uint64", |v| {
                std::str::from_utf8(v).ok()?.parse::<u64>().ok()
            }),
            DataType::Float32 => self.primitive::<Float32Type>(&dt, "float", |v| f.parse_f32(v)),
            DataType::Float64 => self.primitive::<Float64Type>(&dt, "double", |v| f.parse_f64(v)),
            DataType::Date32 => {
                let what = match &f.date {
                    Some(fmt) => format!("date ({} or YYYY-MM-DD)", fmt.spec()),
                    None => "date (YYYY-MM-DD)".to_string(),
                };
                self.primitive::<Date32Type>(&dt, &what, |v| f.parse_date(v))
            }
            DataType::Timestamp(unit, tz) => match unit {
                TimeUnit::Second => {
                    self.timestamps::<TimestampSecondType>(&dt, 1_000_000_000, tz.is_some())
                }
                TimeUnit::Millisecond => {
                    self.timestamps::<TimestampMillisecondType>(&dt, 1_000_000, tz.is_some())
                }
                TimeUnit::Microsecond => {
                    self.timestamps::<TimestampMicrosecondType>(&dt, 1_000, tz.is_some())
                }
                TimeUnit::Nanosecond => {
                    self.timestamps::<TimestampNanosecondType>(&dt, 1, tz.is_some())
                }
            },
            // Unsupported types are refused before conversion starts.
            other => arrow::array::new_null_array(other, self.rows()),
        }
    }

    fn primitive<T: ArrowPrimitiveType>(
        &mut self,
        dt: &DataType,
        what: &str,
        parse: impl Fn(&[u8]) -> Option<T::Native>,
    ) -> ArrayRef {
        let rows = self.rows();
        let mut vals: Vec<T::Native> = Vec::with_capacity(rows);
        let mut nulls = NullBufferBuilder::new(rows);
        for i in 0..rows {
            let parsed = match self.value(i) {
                None => None,
                Some(v) => match parse(v) {
                    Some(x) => Some(x),
                    None => {
                        let reason = format!("cannot parse {} as {what}", shown(v));
                        self.fail(i, reason);
                        None
                    }
                },
            };
            match parsed {
                Some(x) => {
                    vals.push(x);
                    nulls.append_non_null();
                }
                None => {
                    vals.push(T::Native::default());
                    nulls.append_null();
                }
            }
        }
        Arc::new(PrimitiveArray::<T>::new(vals.into(), nulls.finish()).with_data_type(dt.clone()))
    }

    fn ints<T: ArrowPrimitiveType>(&mut self, dt: &DataType) -> ArrayRef
    where
        T::Native: TryFrom<i64>,
    {
        let name = dt.to_string().to_lowercase();
        let f = self.values;
        self.primitive::<T>(dt, &name, |v| {
            f.parse_i64(v).and_then(|x| T::Native::try_from(x).ok())
        })
    }

    fn timestamps<T: ArrowPrimitiveType<Native = i64>>(
        &mut self,
        dt: &DataType,
        nanos_per_unit: i128,
        has_tz: bool,
    ) -> ArrayRef {
        let rows = self.rows();
        let mut vals: Vec<i64> = Vec::with_capacity(rows);
        let mut nulls = NullBufferBuilder::new(rows);
        for i in 0..rows {
            let mut out = None;
            if let Some(v) = self.value(i) {
                match self.values.parse_timestamp(v) {
                    Some(t) if t.has_offset && !has_tz => {
                        let reason = format!(
                            "timestamp {} has a UTC offset but the column has no time zone",
                            shown(v)
                        );
                        self.fail(i, reason);
                    }
                    Some(t) => match i64::try_from(t.nanos.div_euclid(nanos_per_unit)) {
                        Ok(x) => out = Some(x),
                        Err(_) => {
                            let reason = format!("timestamp {} is out of range", shown(v));
                            self.fail(i, reason);
                        }
                    },
                    None => {
                        let reason = format!("cannot parse {} as an ISO-8601 timestamp", shown(v));
                        self.fail(i, reason);
                    }
                }
            }
            match out {
                Some(x) => {
                    vals.push(x);
                    nulls.append_non_null();
                }
                None => {
                    vals.push(0);
                    nulls.append_null();
                }
            }
        }
        Arc::new(PrimitiveArray::<T>::new(vals.into(), nulls.finish()).with_data_type(dt.clone()))
    }

    fn bools(&mut self) -> ArrayRef {
        let rows = self.rows();
        let mut b = BooleanBuilder::with_capacity(rows);
        for i in 0..rows {
            let parsed = match self.value(i) {
                None => None,
                Some(v) => match values::parse_bool(v).or(match v {
                    b"1" => Some(true),
                    b"0" => Some(false),
                    _ => None,
                }) {
                    Some(x) => Some(x),
                    None => {
                        let reason = format!("cannot parse {} as bool (true/false)", shown(v));
                        self.fail(i, reason);
                        None
                    }
                },
            };
            b.append_option(parsed);
        }
        Arc::new(b.finish())
    }

    fn strings(&mut self) -> ArrayRef {
        let rows = self.rows();
        let mut b = StringBuilder::with_capacity(rows, rows * 16);
        for i in 0..rows {
            let s = self.utf8(i);
            b.append_option(s);
        }
        Arc::new(b.finish())
    }

    fn large_strings(&mut self) -> ArrayRef {
        let rows = self.rows();
        let mut b = LargeStringBuilder::with_capacity(rows, rows * 16);
        for i in 0..rows {
            let s = self.utf8(i);
            b.append_option(s);
        }
        Arc::new(b.finish())
    }

    #[inline]
    fn utf8(&mut self, i: usize) -> Option<&'a str> {
        self.value(i)?;
        let rec: &'a Records = self.rec;
        match rec.field_str(self.from + i, self.c) {
            Ok(s) => Some(s),
            Err(e) => {
                let reason = format!("invalid UTF-8 at byte {} of the value", e.valid_up_to() + 1);
                self.fail(i, reason);
                None
            }
        }
    }
}
