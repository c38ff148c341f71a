//! Number functions. cty numbers are arbitrary-precision; f64 covers what templates compute.

use hcl::Value;
use hcl::eval::FuncArgs;

use crate::{as_f64, as_i64, as_string, number};

pub(crate) fn abs(args: FuncArgs) -> Result<Value, String> {
    Ok(number(as_f64(&args[0])?.abs()))
}

pub(crate) fn ceil(args: FuncArgs) -> Result<Value, String> {
    Ok(number(as_f64(&args[0])?.ceil()))
}

pub(crate) fn floor(args: FuncArgs) -> Result<Value, String> {
    Ok(number(as_f64(&args[0])?.floor()))
}

pub(crate) fn log(args: FuncArgs) -> Result<Value, String> {
    Ok(number(as_f64(&args[0])?.ln() / as_f64(&args[1])?.ln()))
}

pub(crate) fn pow(args: FuncArgs) -> Result<Value, String> {
    Ok(number(as_f64(&args[0])?.powf(as_f64(&args[1])?)))
}

pub(crate) fn signum(args: FuncArgs) -> Result<Value, String> {
    let n = as_f64(&args[0])?;
    Ok(number(if n > 0.0 {
        1.0
    } else if n < 0.0 {
        -1.0
    } else {
        0.0
    }))
}

fn numbers(args: &FuncArgs) -> Result<Vec<f64>, String> {
    if args.is_empty() {
        return Err("must pass at least one number".to_string());
    }
    args.iter().map(as_f64).collect()
}

pub(crate) fn max(args: FuncArgs) -> Result<Value, String> {
    Ok(number(numbers(&args)?.into_iter().fold(f64::MIN, f64::max)))
}

pub(crate) fn min(args: FuncArgs) -> Result<Value, String> {
    Ok(number(numbers(&args)?.into_iter().fold(f64::MAX, f64::min)))
}

/// `parseint(string, base)`, bases 2 to 62 (digits, then lower-case, then upper-case letters).
pub(crate) fn parseint(args: FuncArgs) -> Result<Value, String> {
    let text = match &args[0] {
        Value::String(s) => s.clone(),
        other => {
            return Err(format!(
                "first argument must be a string, not {}",
                kind(other)
            ));
        }
    };
    let base = as_i64(&args[1])?;
    if !(2..=62).contains(&base) {
        return Err("base must be a whole number between 2 and 62 inclusive".to_string());
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    if digits.is_empty() {
        return Err(format!("cannot parse {text:?} as a base {base} integer"));
    }
    let mut n: i128 = 0;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => c as i128 - '0' as i128,
            'a'..='z' => c as i128 - 'a' as i128 + 10,
            'A'..='Z' if base > 36 => c as i128 - 'A' as i128 + 36,
            'A'..='Z' => c as i128 - 'A' as i128 + 10,
            _ => return Err(format!("cannot parse {text:?} as a base {base} integer")),
        };
        if d >= base as i128 {
            return Err(format!("cannot parse {text:?} as a base {base} integer"));
        }
        n = n
            .checked_mul(base as i128)
            .and_then(|n| n.checked_add(d))
            .ok_or_else(|| format!("cannot parse {text:?} as a base {base} integer"))?;
    }
    let n = if negative { -n } else { n };
    Ok(number(n as f64))
}

fn kind(value: &Value) -> String {
    match value {
        Value::Number(_) => "number".to_string(),
        Value::Bool(_) => "bool".to_string(),
        other => as_string(other).map_or("a value".to_string(), |_| "string".to_string()),
    }
}
