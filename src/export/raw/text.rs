//! Values as Prometheus's JSON API writes them, so raw samples read through remote read (binary:
//! f64) land in CSV and JSON with the same bytes as samples read as JSON (timestamps are integer
//! milliseconds either way).

/// A value as Prometheus's `jsonutil.MarshalValue` writes it: Go's shortest round-trip
/// `strconv.FormatFloat` in `'f'` form, or `'e'` form (two-digit signed exponent) when
/// `|v| < 1e-6` or `|v| >= 1e21`; `NaN`, `+Inf`, `-Inf`.
pub fn value_text(v: f64, out: &mut Vec<u8>) {
    use std::io::Write;
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's `{:e}` is the same shortest mantissa; Go writes the exponent signed and with at
        // least two digits.
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        let _ = write!(out, "{mantissa}e{sign}{digits:0>2}");
    } else {
        // Rust's `Display` for f64 is the shortest round-trip digits without an exponent.
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(v: f64) -> String {
        let mut b = Vec::new();
        value_text(v, &mut b);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn values_are_written_as_go_formats_them() {
        assert_eq!(val(0.25), "0.25");
        assert_eq!(val(5.0), "5");
        assert_eq!(val(-0.0), "-0");
        assert_eq!(val(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(val(1e-5), "0.00001");
        assert_eq!(val(1e-7), "1e-07");
        assert_eq!(val(-2.5e-300), "-2.5e-300");
        assert_eq!(val(1e21), "1e+21");
        assert_eq!(val(123456789012345680000.0), "123456789012345680000");
        assert_eq!(val(f64::NAN), "NaN");
        assert_eq!(val(f64::INFINITY), "+Inf");
        assert_eq!(val(f64::NEG_INFINITY), "-Inf");
    }
}
