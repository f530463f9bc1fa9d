//! How values are written: decimal and thousands separators, date and timestamp
//! formats. The default (`.`, no grouping, ISO-8601) goes straight to the parsers of
//! [`crate::csv::values`]; anything else is rewritten or parsed here first.
use crate::csv::values::{self, Timestamp};

/// Value syntax of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueFormat {
    pub decimal: u8,
    pub thousands: Option<u8>,
    pub date: Option<DateFormat>,
    pub timestamp: Option<DateFormat>,
}

impl Default for ValueFormat {
    fn default() -> Self {
        ValueFormat {
            decimal: b'.',
            thousands: None,
            date: None,
            timestamp: None,
        }
    }
}

/// Longest number rewritten on the stack; longer ones are no numbers anyway.
const NUMBER_MAX: usize = 64;

impl ValueFormat {
    fn plain_numbers(&self) -> bool {
        self.decimal == b'.' && self.thousands.is_none()
    }

    /// `v` with the thousands separators removed (checked to group by three) and the
    /// decimal separator turned into `.`, or `None` when it is not such a number.
    fn canonical_number<'b>(&self, v: &[u8], buf: &'b mut [u8; NUMBER_MAX]) -> Option<&'b [u8]> {
        if v.len() > NUMBER_MAX {
            return None;
        }
        let mut n = 0;
        let mut digits_in_group = 0usize;
        let mut grouped = false;
        let mut in_fraction = false;
        for (i, &b) in v.iter().enumerate() {
            if Some(b) == self.thousands && !in_fraction {
                // A separator must follow 1-3 digits (first group) or exactly 3.
                let ok = if grouped {
                    digits_in_group == 3
                } else {
                    (1..=3).contains(&digits_in_group)
                };
                if !ok {
                    return None;
                }
                grouped = true;
                digits_in_group = 0;
                continue;
            }
            let out = if b == self.decimal {
                if in_fraction || (grouped && digits_in_group != 3) {
                    return None;
                }
                in_fraction = true;
                b'.'
            } else if b == b'.' && self.decimal != b'.' {
                return None;
            } else {
                if b.is_ascii_digit() {
                    digits_in_group += 1;
                } else if ((b == b'e' || b == b'E') && grouped && digits_in_group != 3)
                    || (i > 0 && (b == b'+' || b == b'-') && !matches!(v[i - 1], b'e' | b'E'))
                {
                    return None;
                }
                b
            };
            buf[n] = out;
            n += 1;
        }
        if grouped && !in_fraction && digits_in_group != 3 {
            return None;
        }
        Some(&buf[..n])
    }

    #[inline]
    pub fn parse_i64(&self, v: &[u8]) -> Option<i64> {
        if self.thousands.is_none() {
            return values::parse_i64(v);
        }
        let mut buf = [0u8; NUMBER_MAX];
        let canon = self.canonical_number(v, &mut buf)?;
        values::parse_i64(canon)
    }

    #[inline]
    pub fn parse_f64(&self, v: &[u8]) -> Option<f64> {
        if self.plain_numbers() {
            return values::parse_f64(v);
        }
        let mut buf = [0u8; NUMBER_MAX];
        match self.canonical_number(v, &mut buf) {
            Some(canon) => values::parse_f64(canon),
            None => None,
        }
    }

    #[inline]
    pub fn parse_f32(&self, v: &[u8]) -> Option<f32> {
        let x = self.parse_f64(v)?;
        let narrow = x as f32;
        (narrow.is_finite() || !x.is_finite()).then_some(narrow)
    }

    /// A date in the file's format, else ISO-8601.
    #[inline]
    pub fn parse_date(&self, v: &[u8]) -> Option<i32> {
        if let Some(f) = &self.date {
            if let Some(t) = f.parse(v) {
                if t.nanos.rem_euclid(NANOS_PER_DAY) == 0 && !t.has_offset {
                    return i32::try_from(t.nanos.div_euclid(NANOS_PER_DAY)).ok();
                }
            }
        }
        values::parse_date(v)
    }

    /// A timestamp in the file's format (a date-only value is midnight), else ISO-8601.
    #[inline]
    pub fn parse_timestamp(&self, v: &[u8]) -> Option<Timestamp> {
        for f in [&self.timestamp, &self.date].into_iter().flatten() {
            if let Some(t) = f.parse(v) {
                return Some(t);
            }
        }
        values::parse_timestamp(v)
    }

    /// Might a value of this syntax be a date or timestamp? (A cheap pre-check.)
    pub fn has_date_formats(&self) -> bool {
        self.date.is_some() || self.timestamp.is_some()
    }
}

const NANOS_PER_DAY: i128 = 86_400_000_000_000;

/// One element of a strftime-style format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(u8),
    Year4,
    Year2,
    Month,
    MonthName,
    Day,
    Hour24,
    Hour12,
    AmPm,
    Minute,
    Second,
    Fraction,
    Offset,
}

/// A date or timestamp format: `%Y %y %m %b %d %H %I %p %M %S %f %z` and literal
/// characters (`%%` is a `%`). Numeric fields other than years take one or two digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    spec: String,
    items: Vec<Item>,
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

impl DateFormat {
    /// Compile `spec`; the error names the directive that is not supported.
    pub fn new(spec: &str) -> Result<Self, String> {
        let mut items = Vec::new();
        let bytes = spec.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'%' {
                items.push(Item::Literal(bytes[i]));
                i += 1;
                continue;
            }
            let d = *bytes
                .get(i + 1)
                .ok_or_else(|| format!("format {spec:?} ends with a lone '%'"))?;
            items.push(match d {
                b'Y' => Item::Year4,
                b'y' => Item::Year2,
                b'm' => Item::Month,
                b'b' => Item::MonthName,
                b'd' => Item::Day,
                b'H' => Item::Hour24,
                b'I' => Item::Hour12,
                b'p' => Item::AmPm,
                b'M' => Item::Minute,
                b'S' => Item::Second,
                b'f' => Item::Fraction,
                b'z' => Item::Offset,
                b'%' => Item::Literal(b'%'),
                other => {
                    return Err(format!(
                        "format {spec:?}: directive %{} is not supported (use %Y %y %m %b %d %H %I %p %M %S %f %z)",
                        char::from(other)
                    ))
                }
            });
            i += 2;
        }
        let has = |want: &Item| items.contains(want);
        if !(has(&Item::Year4) || has(&Item::Year2))
            || !(has(&Item::Month) || has(&Item::MonthName))
            || !has(&Item::Day)
        {
            return Err(format!(
                "format {spec:?} needs a year (%Y or %y), a month (%m or %b) and a day (%d)"
            ));
        }
        Ok(DateFormat {
            spec: spec.to_string(),
            items,
        })
    }

    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// Does the format hold a time of day?
    pub fn has_time(&self) -> bool {
        self.items
            .iter()
            .any(|i| matches!(i, Item::Hour24 | Item::Hour12))
    }

    /// Parse `v` completely; `None` on any mismatch or impossible date.
    pub fn parse(&self, v: &[u8]) -> Option<Timestamp> {
        let mut pos = 0usize;
        let (mut y, mut mo, mut d) = (None, None, None);
        let (mut h, mut mi, mut s, mut frac) = (0u32, 0u32, 0u32, 0i128);
        let mut pm: Option<bool> = None;
        let mut offset: Option<i128> = None;
        for item in &self.items {
            match item {
                Item::Literal(c) => {
                    if v.get(pos) != Some(c) {
                        return None;
                    }
                    pos += 1;
                }
                Item::Year4 => {
                    y = Some(i64::from(digits(v, &mut pos, 4, 4)?));
                }
                Item::Year2 => {
                    let yy = i64::from(digits(v, &mut pos, 2, 2)?);
                    y = Some(if yy < 69 { 2000 + yy } else { 1900 + yy });
                }
                Item::Month => mo = Some(digits(v, &mut pos, 1, 2)?),
                Item::MonthName => {
                    let name = v.get(pos..pos + 3)?;
                    let k = MONTHS.iter().position(|m| name.eq_ignore_ascii_case(*m))?;
                    mo = Some(k as u32 + 1);
                    pos += 3;
                }
                Item::Day => d = Some(digits(v, &mut pos, 1, 2)?),
                Item::Hour24 | Item::Hour12 => h = digits(v, &mut pos, 1, 2)?,
                Item::AmPm => {
                    let t = v.get(pos..pos + 2)?;
                    pm = Some(if t.eq_ignore_ascii_case(b"pm") {
                        true
                    } else if t.eq_ignore_ascii_case(b"am") {
                        false
                    } else {
                        return None;
                    });
                    pos += 2;
                }
                Item::Minute => mi = digits(v, &mut pos, 1, 2)?,
                Item::Second => s = digits(v, &mut pos, 1, 2)?,
                Item::Fraction => {
                    let start = pos;
                    let mut f: i128 = 0;
                    while let Some(&b) = v.get(pos) {
                        if !b.is_ascii_digit() || pos - start == 9 {
                            break;
                        }
                        f = f * 10 + i128::from(b - b'0');
                        pos += 1;
                    }
                    let n = pos - start;
                    if n == 0 {
                        return None;
                    }
                    frac = f * 10_i128.pow(9 - n as u32);
                }
                Item::Offset => {
                    let rest = &v[pos..];
                    let (off, used) = parse_offset(rest)?;
                    offset = Some(off);
                    pos += used;
                }
            }
        }
        if pos != v.len() {
            return None;
        }
        if let Some(pm) = pm {
            if h == 0 || h > 12 {
                return None;
            }
            h = match (pm, h) {
                (false, 12) => 0,
                (true, 12) => 12,
                (true, h) => h + 12,
                (false, h) => h,
            };
        }
        let (y, mo, d) = (y?, mo?, d?);
        if !(1..=12).contains(&mo) || d == 0 || d > values::days_in_month(y, mo) {
            return None;
        }
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
        let days = values::days_from_civil(y, mo, d);
        let mut nanos = i128::from(days) * NANOS_PER_DAY
            + i128::from(h * 3600 + mi * 60 + s) * 1_000_000_000
            + frac;
        if let Some(off) = offset {
            nanos -= off;
        }
        Some(Timestamp {
            nanos,
            has_offset: offset.is_some(),
        })
    }
}

/// `min..=max` ASCII digits at `pos` (greedy).
fn digits(v: &[u8], pos: &mut usize, min: usize, max: usize) -> Option<u32> {
    let mut n = 0u32;
    let mut k = 0;
    while k < max {
        match v.get(*pos + k) {
            Some(b) if b.is_ascii_digit() => {
                n = n * 10 + u32::from(b - b'0');
                k += 1;
            }
            _ => break,
        }
    }
    if k < min {
        return None;
    }
    *pos += k;
    Some(n)
}

/// `Z`, `+HH`, `+HHMM` or `+HH:MM` at the start of `v`: (offset in nanos, bytes used).
fn parse_offset(v: &[u8]) -> Option<(i128, usize)> {
    match v.first()? {
        b'Z' | b'z' => Some((0, 1)),
        sign @ (b'+' | b'-') => {
            let mut pos = 1;
            let hh = digits(v, &mut pos, 2, 2)?;
            let mut mm = 0;
            if v.get(pos) == Some(&b':') {
                pos += 1;
                mm = digits(v, &mut pos, 2, 2)?;
            } else if v.get(pos).is_some_and(u8::is_ascii_digit) {
                mm = digits(v, &mut pos, 2, 2)?;
            }
            if hh > 23 || mm > 59 {
                return None;
            }
            let off = i128::from(hh * 3600 + mm * 60) * 1_000_000_000;
            Some((if *sign == b'+' { off } else { -off }, pos))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn european() -> ValueFormat {
        ValueFormat {
            decimal: b',',
            thousands: Some(b'.'),
            date: Some(DateFormat::new("%d.%m.%Y").expect("format")),
            timestamp: Some(DateFormat::new("%d.%m.%Y %H:%M").expect("format")),
        }
    }

    #[test]
    fn numbers_with_decimal_comma_and_grouping() {
        let f = european();
        assert_eq!(f.parse_f64(b"1.234,5"), Some(1234.5));
        assert_eq!(f.parse_f64(b"-0,25"), Some(-0.25));
        assert_eq!(f.parse_f64(b"12"), Some(12.0));
        assert_eq!(f.parse_i64(b"1.234.567"), Some(1_234_567));
        assert_eq!(f.parse_i64(b"1.5"), None, "a group must have three digits");
        assert_eq!(f.parse_f64(b"1.5"), None);
        assert_eq!(f.parse_f64(b"1,2,3"), None);
        assert_eq!(f.parse_f64(b"1.2345,0"), None);
        assert_eq!(f.parse_i64(b".123"), None);
        assert_eq!(f.parse_f64(b"1,5e3"), Some(1500.0));
        let plain = ValueFormat::default();
        assert_eq!(plain.parse_f64(b"1.5"), Some(1.5));
        assert_eq!(plain.parse_f64(b"1,5"), None);
        let us = ValueFormat {
            thousands: Some(b','),
            ..ValueFormat::default()
        };
        assert_eq!(us.parse_f64(b"1,234.5"), Some(1234.5));
        assert_eq!(us.parse_i64(b"12,345,678"), Some(12_345_678));
        assert_eq!(us.parse_i64(b"12,34"), None);
    }

    #[test]
    fn dates_and_timestamps_in_a_format() {
        let f = european();
        assert_eq!(
            f.parse_date(b"31.12.2025"),
            values::parse_date(b"2025-12-31")
        );
        assert_eq!(f.parse_date(b"1.2.2025"), values::parse_date(b"2025-02-01"));
        assert_eq!(
            f.parse_date(b"2025-12-31"),
            values::parse_date(b"2025-12-31")
        );
        assert_eq!(f.parse_date(b"31.02.2025"), None);
        let t = f.parse_timestamp(b"01.01.1970 01:30").expect("timestamp");
        assert_eq!(t.nanos, 5_400_000_000_000);
        let us = DateFormat::new("%m/%d/%Y %I:%M %p").expect("format");
        let t = us.parse(b"12/31/1969 11:00 PM").expect("timestamp");
        assert_eq!(t.nanos, -3_600_000_000_000);
        let z = DateFormat::new("%d/%b/%Y:%H:%M:%S %z").expect("format");
        let t = z.parse(b"01/Jan/1970:01:00:00 +0100").expect("timestamp");
        assert_eq!((t.nanos, t.has_offset), (0, true));
        assert!(DateFormat::new("%Q").is_err());
        assert!(DateFormat::new("%H:%M").is_err());
        let f2 = DateFormat::new("%d.%m.%y").expect("format");
        assert_eq!(
            f2.parse(b"01.01.70").map(|t| t.nanos),
            Some(0),
            "two-digit years 69-99 are 19xx"
        );
    }
}
