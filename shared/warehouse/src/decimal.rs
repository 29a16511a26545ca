//! Exact decimals (`NUMERIC`, `DECIMAL`) as backflow values.
//!
//! Intercom numbers are floats, so a decimal becomes [`Value::Float`] unless the
//! float would change its *whole* part: a decimal stays [`Value::Text`] (its exact
//! digits) when it has more than [`F64_EXACT_DIGITS`] significant digits *and* more
//! than that many digits before the point — `12345678901234567890` (an ID kept
//! in a `NUMERIC(20)`) must not become `12345678901234567000` — and when it is not
//! a finite `f64` (`NaN`, `Infinity`, `1e400`). So `avg()`'s `3.3333333333333333`
//! is a float (only the far fractional digits round) and `1e20` is a float (exact).
//! The core decides whether a text value can be sent.

use backflow_core::value::Value;

/// Any decimal with this many significant digits or fewer survives the round trip
/// through an `f64` (`DBL_DIG`).
pub(crate) const F64_EXACT_DIGITS: usize = 15;

/// A decimal written in plain or scientific notation → `Float` or `Text`.
pub(crate) fn value(text: &str) -> Value {
    let text = text.trim();
    match text.parse::<f64>() {
        Ok(float)
            if float.is_finite()
                && (significant_digits(text) <= F64_EXACT_DIGITS
                    || whole_digits(text) <= F64_EXACT_DIGITS) =>
        {
            Value::Float(float)
        }
        _ => Value::Text(text.to_string()),
    }
}

/// Digits from the first to the last non-zero digit of the mantissa: `001.2300` → 2,
/// `1000` → 1, `0` → 0.
fn significant_digits(text: &str) -> usize {
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    match (
        digits.iter().position(|&d| d != b'0'),
        digits.iter().rposition(|&d| d != b'0'),
    ) {
        (Some(first), Some(last)) => last - first + 1,
        _ => 0,
    }
}

/// Digits before the point, leading zeros aside: `-00123.45` → 3, `0.5` → 0. With an
/// exponent the number is never small enough to matter, so count it as huge.
fn whole_digits(text: &str) -> usize {
    if text.contains(['e', 'E']) {
        return usize::MAX;
    }
    let whole = text.split('.').next().unwrap_or(text);
    whole
        .bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|&d| d == b'0')
        .count()
}

/// PostgreSQL's binary `NUMERIC` (`numeric_send`): `ndigits`, `weight`, `sign`,
/// `dscale` as big-endian 16-bit integers, then `ndigits` base-10000 digits; the
/// value is `Σ digit[i] × 10000^(weight − i)`, printed with `dscale` decimals.
pub(crate) fn pg_numeric_text(buf: &[u8]) -> Result<String, String> {
    const POSITIVE: u16 = 0x0000;
    const NEGATIVE: u16 = 0x4000;
    const NAN: u16 = 0xC000;
    const INFINITY: u16 = 0xD000;
    const NEG_INFINITY: u16 = 0xF000;

    let word = |at: usize| -> Result<u16, String> {
        buf.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| format!("truncated NUMERIC ({} bytes)", buf.len()))
    };
    let ndigits = word(0)? as i16;
    let weight = i32::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = usize::from(word(6)?);
    let negative = match sign {
        POSITIVE => false,
        NEGATIVE => true,
        NAN => return Ok("NaN".to_string()),
        INFINITY => return Ok("Infinity".to_string()),
        NEG_INFINITY => return Ok("-Infinity".to_string()),
        other => return Err(format!("unknown NUMERIC sign {other:#06x}")),
    };
    let ndigits = usize::try_from(ndigits).map_err(|_| "negative NUMERIC digit count")?;
    let digits = (0..ndigits)
        .map(|i| word(8 + 2 * i))
        .collect::<Result<Vec<u16>, String>>()?;
    if digits.iter().any(|&d| d > 9999) {
        return Err("NUMERIC digit out of range".to_string());
    }
    // The base-10000 digit at position `i` (0 = the first stored digit).
    let digit = |i: i32| -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };

    let mut text = String::new();
    if negative && digits.iter().any(|&d| d != 0) {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                text.push_str(&digit(i).to_string());
            } else {
                text.push_str(&format!("{:04}", digit(i)));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::with_capacity(dscale + 4);
        let mut i = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut buf = Vec::new();
        buf.extend_from_slice(&ndigits.to_be_bytes());
        buf.extend_from_slice(&weight.to_be_bytes());
        buf.extend_from_slice(&sign.to_be_bytes());
        buf.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            buf.extend_from_slice(&d.to_be_bytes());
        }
        buf
    }

    #[test]
    fn decodes_postgres_binary_numeric() {
        // 12345.6789 = 1 2345 . 6789
        assert_eq!(
            pg_numeric_text(&numeric(3, 1, 0, 4, &[1, 2345, 6789])).unwrap(),
            "12345.6789"
        );
        // -0.000001 (dscale 6) = 0.0000 01(00)
        assert_eq!(
            pg_numeric_text(&numeric(1, -2, 0x4000, 6, &[100])).unwrap(),
            "-0.000001"
        );
        // 0.10 with dscale 2
        assert_eq!(
            pg_numeric_text(&numeric(1, -1, 0, 2, &[1000])).unwrap(),
            "0.10"
        );
        // 1e20 = 1 0000 0000 0000 0000 0000 stored as one digit with weight 5
        assert_eq!(
            pg_numeric_text(&numeric(1, 5, 0, 0, &[1])).unwrap(),
            "100000000000000000000"
        );
        assert_eq!(pg_numeric_text(&numeric(0, 0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(pg_numeric_text(&numeric(0, 0, 0, 3, &[])).unwrap(), "0.000");
        assert_eq!(
            pg_numeric_text(&numeric(0, 0, 0xC000, 0, &[])).unwrap(),
            "NaN"
        );
        assert_eq!(
            pg_numeric_text(&numeric(0, 0, 0xF000, 0, &[])).unwrap(),
            "-Infinity"
        );
        assert!(pg_numeric_text(&[0, 1]).is_err());
        assert!(pg_numeric_text(&numeric(2, 0, 0, 0, &[1])).is_err());
    }

    #[test]
    fn decimal_to_float_or_exact_text() {
        assert_eq!(value("0.1"), Value::Float(0.1));
        assert_eq!(value("12.50"), Value::Float(12.5));
        assert_eq!(value("-0.0000001"), Value::Float(-1e-7));
        assert_eq!(value("100000000000000000000"), Value::Float(1e20));
        assert_eq!(value("123456789012345"), Value::Float(123456789012345.0));
        assert_eq!(
            value("1234567890123456"),
            Value::Text("1234567890123456".into())
        );
        assert_eq!(
            value("123456789012345678901234567890.12345"),
            Value::Text("123456789012345678901234567890.12345".into())
        );
        assert_eq!(value("NaN"), Value::Text("NaN".into()));
        assert_eq!(value("-Infinity"), Value::Text("-Infinity".into()));
        assert_eq!(value("1e400"), Value::Text("1e400".into()));
        assert_eq!(value("0"), Value::Float(0.0));
        // Only fractional digits beyond an f64's precision round.
        assert_eq!(value("3.3333333333333333"), Value::Float(10.0 / 3.0));
        assert_eq!(
            value("123456789012345.678901"),
            Value::Float(123_456_789_012_345.67)
        );
        assert_eq!(
            value("12345678901234567890"),
            Value::Text("12345678901234567890".into())
        );
        assert_eq!(
            value("-1234567890123456.5"),
            Value::Text("-1234567890123456.5".into())
        );
    }
}
