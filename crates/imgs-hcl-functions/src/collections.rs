//! List, map and set functions. hcl-rs has no set type: sets are arrays, deduplicated and in
//! cty's order for sets (strings lexically, numbers numerically), which is how Packer prints them.

use hcl::{Map, Value};

use unicode_segmentation::UnicodeSegmentation as _;

use crate::{arg_error, as_f64, as_i64, as_list, as_string, number};

/// A whole-number argument, its error prefixed as cty prefixes it (`invalid index: …`).
fn whole(value: &Value, what: &str) -> Result<i64, String> {
    as_i64(value).map_err(|e| format!("{what}: {e}"))
}

/// A tuple's elements as the list cty converts it to: mixed primitive elements all become strings
/// (`[1, "1"]` is `["1", "1"]`); other mixes stay as they are.
pub(crate) fn unify(items: &[Value]) -> Vec<Value> {
    let primitive = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
    let first_kind = items
        .iter()
        .find(|v| !v.is_null())
        .map(std::mem::discriminant);
    let mixed = items
        .iter()
        .filter(|v| !v.is_null())
        .any(|v| Some(std::mem::discriminant(v)) != first_kind);
    if mixed && items.iter().all(|v| v.is_null() || primitive(v)) {
        items
            .iter()
            .map(|v| match v {
                Value::Null => Value::Null,
                other => Value::String(as_string(other).unwrap_or_default()),
            })
            .collect()
    } else {
        items.to_vec()
    }
}

pub(crate) fn length(args: &[Value]) -> Result<Value, String> {
    Ok(number(match &args[0] {
        // cty counts grapheme clusters.
        Value::String(s) => s.graphemes(true).count() as f64,
        Value::Array(items) => items.len() as f64,
        Value::Object(map) => map.len() as f64,
        Value::Null => return Err("argument must not be null".to_string()),
        _ => {
            return Err(
                "argument must be a string, a collection type, or a structural type".to_string(),
            );
        }
    }))
}

/// `element(list, index)`: the index wraps around the list's length (Go's `%`, so a negative
/// index that does not wrap to 0 is out of range).
pub(crate) fn element(args: &[Value]) -> Result<Value, String> {
    let list = match &args[0] {
        Value::Array(items) => items,
        Value::Object(_) => return Err("cannot read elements from object".to_string()),
        _ => return Err("cannot read elements from string".to_string()),
    };
    let index = whole(&args[1], "invalid index")?;
    if list.is_empty() {
        return Err("cannot use element function with an empty list".to_string());
    }
    let wrapped = index % list.len() as i64;
    usize::try_from(wrapped)
        .ok()
        .and_then(|i| list.get(i))
        .cloned()
        .ok_or_else(|| format!("index {index} out of range"))
}

/// `index(collection, key)`: cty's element access in 1.6.6 (a list by number), not the later
/// search for a value. Objects are not maps to cty, so indexing one fails too.
pub(crate) fn index(args: &[Value]) -> Result<Value, String> {
    let Value::Array(items) = &args[0] else {
        return Err("collection must be a list, a map or a tuple".to_string());
    };
    let Value::Number(_) = &args[1] else {
        return Err("key for tuple must be number".to_string());
    };
    let i = whole(&args[1], "invalid key for tuple")?;
    usize::try_from(i)
        .ok()
        .and_then(|i| items.get(i))
        .cloned()
        .ok_or_else(|| format!("key must be between 0 and {} inclusive", items.len()))
}

pub(crate) fn concat(args: &[Value]) -> Result<Value, String> {
    if args.is_empty() {
        return Err("at least one argument is required".to_string());
    }
    let mut out = Vec::new();
    for (i, list) in args.iter().enumerate() {
        match list {
            Value::Array(items) => out.extend(items.iter().cloned()),
            other => {
                return Err(arg_error(
                    i,
                    format!(
                        "all arguments must be lists or tuples; got {}",
                        crate::type_name(other)
                    ),
                ));
            }
        }
    }
    Ok(Value::Array(out))
}

pub(crate) fn contains(args: &[Value]) -> Result<Value, String> {
    let Value::Array(items) = &args[0] else {
        return Err("argument must be list, tuple, or set".to_string());
    };
    Ok(Value::Bool(items.contains(&args[1])))
}

pub(crate) fn distinct(args: &[Value]) -> Result<Value, String> {
    let list = as_list(&args[0]).map_err(|e| arg_error(0, e))?;
    let mut out: Vec<Value> = Vec::new();
    for item in unify(list) {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(Value::Array(out))
}

pub(crate) fn flatten(args: &[Value]) -> Result<Value, String> {
    fn walk(items: &[Value], out: &mut Vec<Value>) {
        for item in items {
            match item {
                Value::Array(inner) => walk(inner, out),
                other => out.push(other.clone()),
            }
        }
    }
    let Value::Array(items) = &args[0] else {
        return Err("can only flatten lists, sets and tuples".to_string());
    };
    let mut out = Vec::new();
    walk(items, &mut out);
    Ok(Value::Array(out))
}

fn as_map(value: &Value) -> Result<&Map<String, Value>, String> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err("must have map or object type".to_string()),
    }
}

fn sorted_keys(map: &Map<String, Value>) -> Vec<&String> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    keys
}

pub(crate) fn keys(args: &[Value]) -> Result<Value, String> {
    let map = as_map(&args[0]).map_err(|e| arg_error(0, e))?;
    Ok(Value::Array(
        sorted_keys(map)
            .into_iter()
            .map(|k| Value::String(k.clone()))
            .collect(),
    ))
}

pub(crate) fn values(args: &[Value]) -> Result<Value, String> {
    let map = as_map(&args[0])
        .map_err(|_| "values() requires a map as the first argument".to_string())?;
    Ok(Value::Array(
        sorted_keys(map)
            .into_iter()
            .map(|k| map[k].clone())
            .collect(),
    ))
}

pub(crate) fn lookup(args: &[Value]) -> Result<Value, String> {
    let map = as_map(&args[0])
        .map_err(|_| arg_error(0, "lookup() requires a map as the first argument"))?;
    let key = as_string(&args[1])?;
    match (map.get(&key), args.get(2)) {
        (Some(value), _) => Ok(value.clone()),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(format!("lookup failed to find '{key}'")),
    }
}

pub(crate) fn merge(args: &[Value]) -> Result<Value, String> {
    if args.is_empty() {
        return Ok(Value::Null);
    }
    let mut out: Map<String, Value> = Map::new();
    for arg in args.iter() {
        if arg.is_null() {
            continue;
        }
        let map = as_map(arg).map_err(|_| {
            format!(
                "arguments must be maps or objects, got \"{}\"",
                crate::type_name(arg)
            )
        })?;
        for (k, v) in map {
            out.insert(k.clone(), v.clone());
        }
    }
    // cty objects and maps iterate in key order.
    out.sort_keys();
    Ok(Value::Object(out))
}

pub(crate) fn reverse(args: &[Value]) -> Result<Value, String> {
    let Value::Array(items) = &args[0] else {
        return Err(arg_error(
            0,
            format!(
                "can only reverse list or tuple values, not {}",
                crate::type_name(&args[0])
            ),
        ));
    };
    let mut items = items.clone();
    items.reverse();
    Ok(Value::Array(items))
}

pub(crate) fn slice(args: &[Value]) -> Result<Value, String> {
    let Value::Array(list) = &args[0] else {
        return Err(arg_error(0, "must be a list or tuple value"));
    };
    let start = whole(&args[1], "invalid start index").map_err(|e| arg_error(1, e))?;
    let end = whole(&args[2], "invalid end index").map_err(|e| arg_error(2, e))?;
    if start < 0 {
        return Err(arg_error(1, "start index must not be less than zero"));
    }
    if end > list.len() as i64 {
        return Err(arg_error(
            2,
            "end index must not be greater than the length of the list",
        ));
    }
    if start > end {
        return Err(arg_error(
            1,
            "start index must not be greater than end index",
        ));
    }
    Ok(Value::Array(list[start as usize..end as usize].to_vec()))
}

pub(crate) fn sort(args: &[Value]) -> Result<Value, String> {
    let mut items = Vec::new();
    for (i, item) in as_list(&args[0])?.iter().enumerate() {
        if item.is_null() {
            return Err(format!(
                "given list element {i} is null; a null string cannot be sorted"
            ));
        }
        items.push(as_string(item)?);
    }
    items.sort();
    Ok(Value::Array(items.into_iter().map(Value::String).collect()))
}

pub(crate) fn compact(args: &[Value]) -> Result<Value, String> {
    let mut out = Vec::new();
    for item in as_list(&args[0])? {
        match item {
            Value::Null => {}
            Value::String(s) if s.is_empty() => {}
            other => out.push(Value::String(as_string(other)?)),
        }
    }
    Ok(Value::Array(out))
}

pub(crate) fn chunklist(args: &[Value]) -> Result<Value, String> {
    let list = as_list(&args[0])?;
    let size = whole(&args[1], "invalid index")?;
    if size < 0 {
        return Err("the size argument must be positive".to_string());
    }
    if size == 0 {
        return Ok(Value::Array(vec![Value::Array(list.clone())]));
    }
    Ok(Value::Array(
        list.chunks(size as usize)
            .map(|c| Value::Array(c.to_vec()))
            .collect(),
    ))
}

/// The first argument that is not null nor an empty string; the arguments must unify to one type
/// (mixed primitives become strings).
pub(crate) fn coalesce(args: &[Value]) -> Result<Value, String> {
    let same_type = "all arguments must have the same type".to_string();
    if args.is_empty() {
        return Err(same_type);
    }
    let collections = args
        .iter()
        .filter(|v| matches!(v, Value::Array(_) | Value::Object(_)))
        .count();
    let non_null = args.iter().filter(|v| !v.is_null()).count();
    if collections > 0 && collections != non_null {
        return Err(same_type);
    }
    unify(args)
        .into_iter()
        .find(|v| match v {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        })
        .ok_or_else(|| "no non-null, non-empty-string arguments".to_string())
}

pub(crate) fn coalescelist(args: &[Value]) -> Result<Value, String> {
    if args.is_empty() {
        return Err("at least one argument is required".to_string());
    }
    for arg in args.iter() {
        let Value::Array(items) = arg else {
            return Err("coalescelist arguments must be lists or tuples".to_string());
        };
        if !items.is_empty() {
            return Ok(arg.clone());
        }
    }
    Err("no non-null arguments".to_string())
}

/// `range(limit)`, `range(start, limit)`, `range(start, limit, step)`. Values are computed in
/// decimal (cty's numbers are not binary floats: `range(0, 1, 0.3)` ends with 0.9).
pub(crate) fn range(args: &[Value]) -> Result<Value, String> {
    let numbers: Vec<f64> = args.iter().map(as_f64).collect::<Result<_, _>>()?;
    let (start, end, step) = match numbers.as_slice() {
        [end] => (0.0, *end, if *end < 0.0 { -1.0 } else { 1.0 }),
        [start, end] => (*start, *end, if start > end { -1.0 } else { 1.0 }),
        [start, end, step] => (*start, *end, *step),
        _ => return Err("must have one, two, or three arguments".to_string()),
    };
    if step < 0.0 && start < end {
        return Err(arg_error(
            0,
            "end must be less than start when step is negative",
        ));
    }
    if step > 0.0 && start > end {
        return Err(arg_error(
            0,
            "end must be greater than start when step is positive",
        ));
    }
    let too_many = "more than 1024 values were generated; either decrease the difference between start and end or use a smaller step".to_string();
    let mut out = Vec::new();
    let mut n = start;
    loop {
        let more = if step > 0.0 {
            n < end
        } else if step < 0.0 {
            n > end
        } else {
            n < end
        };
        if !more {
            break;
        }
        if out.len() >= 1024 {
            return Err(too_many);
        }
        out.push(number(n));
        n = crate::numeric::decimal_add(n, step);
    }
    Ok(Value::Array(out))
}

/// A set as cty orders it: unique, strings lexically, numbers numerically.
fn as_set(items: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out.sort_by(|a, b| match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    });
    out
}

fn set_arg(args: &[Value], i: usize) -> Result<&Vec<Value>, String> {
    as_list(&args[i]).map_err(|_| arg_error(i, "set of any single type required"))
}

pub(crate) fn setunion(args: &[Value]) -> Result<Value, String> {
    let mut all = Vec::new();
    for i in 0..args.len() {
        all.extend(set_arg(args, i)?.iter().cloned());
    }
    Ok(Value::Array(as_set(unify(&all))))
}

pub(crate) fn setintersection(args: &[Value]) -> Result<Value, String> {
    let first = set_arg(args, 0)?;
    let rest: Vec<&Vec<Value>> = (1..args.len())
        .map(|i| set_arg(args, i))
        .collect::<Result<_, _>>()?;
    Ok(Value::Array(as_set(
        first
            .iter()
            .filter(|item| rest.iter().all(|other| other.contains(item)))
            .cloned(),
    )))
}

pub(crate) fn setproduct(args: &[Value]) -> Result<Value, String> {
    if args.len() < 2 {
        return Err("at least two arguments are required".to_string());
    }
    let mut product: Vec<Vec<Value>> = vec![Vec::new()];
    for arg in args.iter() {
        let items = as_list(arg)?;
        let mut next = Vec::new();
        for prefix in &product {
            for item in items {
                let mut row = prefix.clone();
                row.push(item.clone());
                next.push(row);
            }
        }
        product = next;
    }
    Ok(Value::Array(
        product.into_iter().map(Value::Array).collect(),
    ))
}

pub(crate) fn zipmap(args: &[Value]) -> Result<Value, String> {
    let keys =
        as_list(&args[0]).map_err(|_| "keys argument must be a list or tuple value".to_string())?;
    let values = as_list(&args[1])
        .map_err(|_| "values argument must be a list or tuple value".to_string())?;
    if keys.len() != values.len() {
        return Err(format!(
            "number of keys ({}) does not match number of values ({})",
            keys.len(),
            values.len()
        ));
    }
    let mut out: Map<String, Value> = Map::new();
    for (k, v) in keys.iter().zip(values) {
        out.insert(as_string(k)?, v.clone());
    }
    out.sort_keys();
    Ok(Value::Object(out))
}
