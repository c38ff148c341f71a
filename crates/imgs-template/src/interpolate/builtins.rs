//! Go text/template's predefined functions that Packer templates can reach: logic, comparison, `len`,
//! `index` and the `print` family.

use std::cmp::Ordering;

use super::funcs::FuncError;
use super::printf::sprintf;
use super::value::Value;

pub(super) fn call<'a>(name: &str, mut args: Vec<Value<'a>>) -> Result<Value<'a>, FuncError> {
    match name {
        // Go 1.15 evaluates every argument, then returns the first false (`and`) / true (`or`) one.
        "and" => Ok(pick(args, |v| !v.is_true())),
        "or" => Ok(pick(args, Value::is_true)),
        "not" => Ok(Value::Bool(!args[0].is_true())),
        "len" => match &args[0] {
            Value::Str(s) => Ok(Value::Int(s.len() as i64)),
            Value::Map(m) => Ok(Value::Int(m.len() as i64)),
            other => Err(FuncError::new(format!("len of type {}", other.type_name()))),
        },
        "index" => index(args),
        "eq" => {
            let first = args.remove(0);
            if args.is_empty() {
                return Err(FuncError::new("missing argument for comparison"));
            }
            for other in &args {
                if compare(&first, other)? == Some(Ordering::Equal) {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" => Ok(Value::Bool(
            compare(&args[0], &args[1])? != Some(Ordering::Equal),
        )),
        "lt" | "le" | "gt" | "ge" => {
            let ordering = ordered(&args[0], &args[1])?;
            Ok(Value::Bool(match name {
                "lt" => ordering == Ordering::Less,
                "le" => ordering != Ordering::Greater,
                "gt" => ordering == Ordering::Greater,
                _ => ordering != Ordering::Less,
            }))
        }
        "print" => Ok(Value::Str(print(&args))),
        "println" => {
            let mut text = args
                .iter()
                .map(Value::to_text)
                .collect::<Vec<_>>()
                .join(" ");
            text.push('\n');
            Ok(Value::Str(text))
        }
        "printf" => {
            let format = args.remove(0).to_text();
            Ok(Value::Str(sprintf(&format, &args)))
        }
        _ => Err(FuncError::new(format!("function {name:?} not defined"))),
    }
}

fn pick<'a>(args: Vec<Value<'a>>, stop: impl Fn(&Value<'a>) -> bool) -> Value<'a> {
    let count = args.len();
    for (i, arg) in args.into_iter().enumerate() {
        if stop(&arg) || i + 1 == count {
            return arg;
        }
    }
    Value::Nil
}

/// Go's `fmt.Sprint`: a space between operands when neither side is a string.
fn print(args: &[Value<'_>]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        let is_string = |v: &Value<'_>| matches!(v, Value::Str(_));
        if i > 0 && !is_string(arg) && !is_string(&args[i - 1]) {
            out.push(' ');
        }
        arg.print(&mut out);
    }
    out
}

fn index<'a>(args: Vec<Value<'a>>) -> Result<Value<'a>, FuncError> {
    let mut item = args[0].clone();
    for key in &args[1..] {
        item = match (&item, key) {
            (Value::Map(map), Value::Str(k)) => Value::Str(map.get(k).cloned().unwrap_or_default()),
            (Value::Map(_), other) => {
                return Err(FuncError::new(format!(
                    "value has type {}; should be string",
                    other.type_name()
                )));
            }
            (Value::Str(s), Value::Int(i)) => {
                match usize::try_from(*i).ok().and_then(|i| s.as_bytes().get(i)) {
                    Some(byte) => Value::Int(i64::from(*byte)),
                    None => return Err(FuncError::new(format!("index out of range: {i}"))),
                }
            }
            (Value::Missing | Value::Nil, _) => return Err(FuncError::new("index of untyped nil")),
            (other, _) => {
                return Err(FuncError::new(format!(
                    "can't index item of type {}",
                    other.type_name()
                )));
            }
        };
    }
    Ok(item)
}

/// Equality as Go's `eq`: same basic kind required (integers and floats do not mix).
fn compare(a: &Value<'_>, b: &Value<'_>) -> Result<Option<Ordering>, FuncError> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(Some(x.cmp(y))),
        (Value::Int(x), Value::Int(y)) => Ok(Some(x.cmp(y))),
        (Value::Float(x), Value::Float(y)) => Ok(x.partial_cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(Some(x.cmp(y))),
        (Value::Nil | Value::Missing, _) | (_, Value::Nil | Value::Missing) => {
            Err(FuncError::new("invalid type for comparison"))
        }
        (Value::Map(_), _) | (_, Value::Map(_)) => {
            Err(FuncError::new("invalid type for comparison"))
        }
        _ => Err(FuncError::new("incompatible types for comparison")),
    }
}

fn ordered(a: &Value<'_>, b: &Value<'_>) -> Result<Ordering, FuncError> {
    if matches!(a, Value::Bool(_)) || matches!(b, Value::Bool(_)) {
        return Err(FuncError::new("invalid type for comparison"));
    }
    Ok(compare(a, b)?.unwrap_or(Ordering::Equal))
}
