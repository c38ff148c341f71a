//! Number functions. cty numbers are arbitrary-precision; f64 covers what templates compute.

use hcl::Value;

use crate::{arg_error, as_f64, as_i64, as_string, number};

/// cty computes in arbitrary precision from the decimal numbers written, so `0.1 + 0.2` is `0.3`
/// there. Sums and products are computed here on the shortest decimal forms of the operands
/// (exactly, in i128) and rounded to f64 once; binary f64 arithmetic is the fallback when the
/// digits do not fit.
fn decimal(f: f64) -> Option<(i128, i32)> {
    if !f.is_finite() {
        return None;
    }
    let text = format!("{f:e}");
    let (mantissa, exp) = text.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let m: i128 = format!("{int}{frac}").parse().ok()?;
    Some((m, exp - i32::try_from(frac.len()).ok()?))
}

fn from_decimal(m: i128, e: i32) -> f64 {
    format!("{m}e{e}").parse().unwrap_or(f64::NAN)
}

pub(crate) fn decimal_add(a: f64, b: f64) -> f64 {
    let exact = || {
        let (ma, ea) = decimal(a)?;
        let (mb, eb) = decimal(b)?;
        let e = ea.min(eb);
        let scale = |m: i128, from: i32| {
            10i128
                .checked_pow(u32::try_from(from - e).ok()?)
                .and_then(|p| m.checked_mul(p))
        };
        Some(from_decimal(scale(ma, ea)?.checked_add(scale(mb, eb)?)?, e))
    };
    exact().unwrap_or(a + b)
}

pub(crate) fn decimal_mul(a: f64, b: f64) -> f64 {
    let exact = || {
        let (ma, ea) = decimal(a)?;
        let (mb, eb) = decimal(b)?;
        Some(from_decimal(ma.checked_mul(mb)?, ea.checked_add(eb)?))
    };
    exact().unwrap_or(a * b)
}

/// A result that must be a finite number: cty has infinities, hcl-rs values have none.
fn finite(n: f64) -> Result<Value, String> {
    if n.is_finite() {
        Ok(number(n))
    } else if n.is_nan() {
        Err("the result is not a number".to_string())
    } else {
        Err(format!(
            "the result is {}infinity, which imgs cannot represent",
            if n < 0.0 { "negative " } else { "" }
        ))
    }
}

pub(crate) fn abs(args: &[Value]) -> Result<Value, String> {
    Ok(number(as_f64(&args[0])?.abs()))
}

pub(crate) fn ceil(args: &[Value]) -> Result<Value, String> {
    Ok(number(as_f64(&args[0])?.ceil()))
}

pub(crate) fn floor(args: &[Value]) -> Result<Value, String> {
    Ok(number(as_f64(&args[0])?.floor()))
}

pub(crate) fn log(args: &[Value]) -> Result<Value, String> {
    finite(as_f64(&args[0])?.ln() / as_f64(&args[1])?.ln())
}

pub(crate) fn pow(args: &[Value]) -> Result<Value, String> {
    finite(as_f64(&args[0])?.powf(as_f64(&args[1])?))
}

/// Packer 1.6.6's `signum` takes the number as a whole number (5.5 is an error).
pub(crate) fn signum(args: &[Value]) -> Result<Value, String> {
    let n = as_i64(&args[0])?;
    Ok(number(n.signum() as f64))
}

fn numbers(args: &[Value]) -> Result<Vec<f64>, String> {
    if args.is_empty() {
        return Err("must pass at least one number".to_string());
    }
    args.iter().map(as_f64).collect()
}

pub(crate) fn max(args: &[Value]) -> Result<Value, String> {
    Ok(number(numbers(args)?.into_iter().fold(f64::MIN, f64::max)))
}

pub(crate) fn min(args: &[Value]) -> Result<Value, String> {
    Ok(number(numbers(args)?.into_iter().fold(f64::MAX, f64::min)))
}

/// `parseint(string, base)`, bases 2 to 62 (digits, then lower-case, then upper-case letters).
pub(crate) fn parseint(args: &[Value]) -> Result<Value, String> {
    let text = match &args[0] {
        Value::String(s) => s.clone(),
        other => {
            return Err(arg_error(
                0,
                format!("first argument must be a string, not {}", kind(other)),
            ));
        }
    };
    let base = as_i64(&args[1]).map_err(|e| arg_error(1, e))?;
    if !(2..=62).contains(&base) {
        return Err(arg_error(
            1,
            "base must be a whole number between 2 and 62 inclusive",
        ));
    }
    let invalid = || arg_error(0, format!("cannot parse {text:?} as a base {base} integer"));
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    if digits.is_empty() {
        return Err(invalid());
    }
    let mut n: Option<i128> = Some(0);
    let mut approx = 0.0f64;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => c as i128 - '0' as i128,
            'a'..='z' => c as i128 - 'a' as i128 + 10,
            'A'..='Z' if base > 36 => c as i128 - 'A' as i128 + 36,
            'A'..='Z' => c as i128 - 'A' as i128 + 10,
            _ => return Err(invalid()),
        };
        if d >= base as i128 {
            return Err(invalid());
        }
        // Past i128 the value is only approximate, as a float.
        approx = approx * base as f64 + d as f64;
        n = n
            .and_then(|n| n.checked_mul(base as i128))
            .and_then(|n| n.checked_add(d));
    }
    let signed = |v: f64| if negative { -v } else { v };
    let n = n.map(|n| if negative { -n } else { n });
    match (n, n.and_then(|n| i64::try_from(n).ok())) {
        (_, Some(exact)) => Ok(Value::Number(hcl::Number::from(exact))),
        (Some(wide), None) => finite(wide as f64),
        (None, None) => finite(signed(approx)),
    }
}

fn kind(value: &Value) -> String {
    match value {
        Value::Number(_) => "number".to_string(),
        Value::Bool(_) => "bool".to_string(),
        other => as_string(other).map_or("a value".to_string(), |_| "string".to_string()),
    }
}
