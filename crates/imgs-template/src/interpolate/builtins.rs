//! Go text/template's predefined functions: logic, comparison, `len`, `index`, `slice`, the `print`
//! family and the `html`/`js`/`urlquery` escapers. `call` exists but always fails: a Packer template
//! holds no function values.

use std::cmp::Ordering;

use super::funcs::FuncError;
use super::printf::sprintf;
use super::value::Value;

pub(super) fn call<'a>(name: &str, mut args: Vec<Value<'a>>) -> Result<Value<'a>, FuncError> {
    match name {
        // Reached only with evaluated arguments; the evaluator normally short-circuits these.
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
                if equal(&first, other)? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" => Ok(Value::Bool(!equal(&args[0], &args[1])?)),
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
        "html" => Ok(Value::Str(html_escape(&escaper_input(&args)))),
        "js" => Ok(Value::Str(js_escape(&escaper_input(&args)))),
        "urlquery" => Ok(Value::Str(query_escape(&escaper_input(&args)))),
        "slice" => slice(&args),
        "call" => Err(FuncError::new(match args.first() {
            None => "wrong number of args for call: want at least 1 got 0".to_owned(),
            Some(Value::Nil | Value::Missing) => "call of nil".to_owned(),
            Some(other) => format!("non-function of type {}", other.type_name()),
        })),
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
            (Value::Str(_), other) => return Err(bad_index(other)),
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

fn bad_index(index: &Value<'_>) -> FuncError {
    FuncError::new(match index {
        Value::Nil | Value::Missing => "cannot index slice/array with nil".to_owned(),
        other => format!("cannot index slice/array with type {}", other.type_name()),
    })
}

/// Go's `eq` for two values: nil equals only nil; otherwise the same basic kind is required
/// (integers and floats do not mix).
fn equal(a: &Value<'_>, b: &Value<'_>) -> Result<bool, FuncError> {
    let is_nil = |v: &Value<'_>| matches!(v, Value::Nil | Value::Missing);
    if is_nil(a) || is_nil(b) {
        return Ok(is_nil(a) && is_nil(b));
    }
    Ok(compare(a, b)? == Some(Ordering::Equal))
}

fn compare(a: &Value<'_>, b: &Value<'_>) -> Result<Option<Ordering>, FuncError> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(Some(x.cmp(y))),
        (Value::Int(x), Value::Int(y)) => Ok(Some(x.cmp(y))),
        (Value::Float(x), Value::Float(y)) => Ok(x.partial_cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(Some(x.cmp(y))),
        (Value::Nil | Value::Missing | Value::Map(_), _)
        | (_, Value::Nil | Value::Missing | Value::Map(_)) => {
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

/// The text an escaper works on: Go's `fmt.Sprint` of the arguments, with nil shown as `<no value>`.
fn escaper_input(args: &[Value<'_>]) -> String {
    let shown: Vec<Value<'_>> = args
        .iter()
        .map(|v| match v {
            Value::Nil | Value::Missing => Value::Str("<no value>".into()),
            other => other.clone(),
        })
        .collect();
    print(&shown)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 || (c.is_control() && !c.is_ascii()) => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `slice s i j`: bytes `i..j` of a string, as Go slices strings.
fn slice<'a>(args: &[Value<'a>]) -> Result<Value<'a>, FuncError> {
    let Value::Str(s) = &args[0] else {
        return Err(FuncError::new(match &args[0] {
            Value::Nil | Value::Missing => "slice of untyped nil".to_owned(),
            other => format!("can't slice item of type {}", other.type_name()),
        }));
    };
    match args.len() - 1 {
        3 => return Err(FuncError::new("cannot 3-index slice a string")),
        n if n > 3 => return Err(FuncError::new(format!("too many slice indexes: {n}"))),
        _ => {}
    }
    let mut bounds = [0usize, s.len()];
    for (slot, arg) in bounds.iter_mut().zip(&args[1..]) {
        let index = match arg {
            Value::Int(i) => *i,
            other => return Err(bad_index(other)),
        };
        match usize::try_from(index).ok().filter(|&i| i <= s.len()) {
            Some(i) => *slot = i,
            None => return Err(FuncError::new(format!("index out of range: {index}"))),
        }
    }
    let [start, end] = bounds;
    if start > end {
        return Err(FuncError::new(format!(
            "invalid slice index: {start} > {end}"
        )));
    }
    Ok(Value::Str(
        String::from_utf8_lossy(&s.as_bytes()[start..end]).into_owned(),
    ))
}
