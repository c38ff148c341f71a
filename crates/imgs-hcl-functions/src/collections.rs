//! List, map and set functions. hcl-rs has no set type: sets are arrays, deduplicated and in
//! cty's order for sets (strings lexically, numbers numerically), which is how Packer prints them.

use hcl::eval::FuncArgs;
use hcl::{Map, Value};

use crate::{as_f64, as_i64, as_list, as_string, number};

pub(crate) fn length(args: FuncArgs) -> Result<Value, String> {
    Ok(number(match &args[0] {
        Value::String(s) => s.chars().count() as f64,
        Value::Array(items) => items.len() as f64,
        Value::Object(map) => map.len() as f64,
        Value::Null => return Err("argument must not be null".to_string()),
        _ => return Err("collection or structural type is required".to_string()),
    }))
}

/// `element(list, index)`: the index wraps around the list's length (Go's `%`, so a negative
/// index that does not wrap to 0 is out of range).
pub(crate) fn element(args: FuncArgs) -> Result<Value, String> {
    let list = as_list(&args[0])?;
    let index = as_i64(&args[1])?;
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

/// `index(collection, key)`: cty's element access in 1.6.6 (a list by number, a map by key), not
/// the later search for a value.
pub(crate) fn index(args: FuncArgs) -> Result<Value, String> {
    match &args[0] {
        Value::Array(items) => {
            let Value::Number(_) = &args[1] else {
                return Err("key for tuple must be number".to_string());
            };
            let i = as_i64(&args[1])?;
            usize::try_from(i)
                .ok()
                .and_then(|i| items.get(i))
                .cloned()
                .ok_or_else(|| {
                    "the given index is greater than or equal to the length of the collection"
                        .to_string()
                })
        }
        // cty's index of an object fails in Packer's console too (it has no map type to index).
        _ => Err("cannot index a value of this type".to_string()),
    }
}

pub(crate) fn concat(args: FuncArgs) -> Result<Value, String> {
    if args.is_empty() {
        return Err("at least one argument is required".to_string());
    }
    let mut out = Vec::new();
    for list in args.iter() {
        out.extend(as_list(list)?.iter().cloned());
    }
    Ok(Value::Array(out))
}

pub(crate) fn contains(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(as_list(&args[0])?.contains(&args[1])))
}

pub(crate) fn distinct(args: FuncArgs) -> Result<Value, String> {
    let mut out: Vec<Value> = Vec::new();
    for item in as_list(&args[0])? {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    Ok(Value::Array(out))
}

pub(crate) fn flatten(args: FuncArgs) -> Result<Value, String> {
    fn walk(items: &[Value], out: &mut Vec<Value>) {
        for item in items {
            match item {
                Value::Array(inner) => walk(inner, out),
                other => out.push(other.clone()),
            }
        }
    }
    let mut out = Vec::new();
    walk(as_list(&args[0])?, &mut out);
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

pub(crate) fn keys(args: FuncArgs) -> Result<Value, String> {
    let map = as_map(&args[0])?;
    Ok(Value::Array(
        sorted_keys(map)
            .into_iter()
            .map(|k| Value::String(k.clone()))
            .collect(),
    ))
}

pub(crate) fn values(args: FuncArgs) -> Result<Value, String> {
    let map = as_map(&args[0])?;
    Ok(Value::Array(
        sorted_keys(map)
            .into_iter()
            .map(|k| map[k].clone())
            .collect(),
    ))
}

pub(crate) fn lookup(args: FuncArgs) -> Result<Value, String> {
    let map = as_map(&args[0])?;
    let key = as_string(&args[1])?;
    match (map.get(&key), args.get(2)) {
        (Some(value), _) => Ok(value.clone()),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(format!("lookup failed to find '{key}'")),
    }
}

pub(crate) fn merge(args: FuncArgs) -> Result<Value, String> {
    let mut out: Map<String, Value> = Map::new();
    for arg in args.iter() {
        if arg.is_null() {
            continue;
        }
        for (k, v) in as_map(arg)? {
            out.insert(k.clone(), v.clone());
        }
    }
    // cty objects and maps iterate in key order.
    out.sort_keys();
    Ok(Value::Object(out))
}

pub(crate) fn reverse(args: FuncArgs) -> Result<Value, String> {
    let mut items = as_list(&args[0])?.clone();
    items.reverse();
    Ok(Value::Array(items))
}

pub(crate) fn slice(args: FuncArgs) -> Result<Value, String> {
    let list = as_list(&args[0])?;
    let start = as_i64(&args[1])?;
    let end = as_i64(&args[2])?;
    if start < 0 {
        return Err("from index must be greater than or equal to 0".to_string());
    }
    if end > list.len() as i64 {
        return Err(
            "to index must be less than or equal to the length of the input collection".to_string(),
        );
    }
    if start > end {
        return Err("from index must be less than or equal to index".to_string());
    }
    Ok(Value::Array(list[start as usize..end as usize].to_vec()))
}

pub(crate) fn sort(args: FuncArgs) -> Result<Value, String> {
    let mut items = Vec::new();
    for item in as_list(&args[0])? {
        if item.is_null() {
            return Err("given list element 0 is null; a null string cannot be sorted".to_string());
        }
        items.push(as_string(item)?);
    }
    items.sort();
    Ok(Value::Array(items.into_iter().map(Value::String).collect()))
}

pub(crate) fn compact(args: FuncArgs) -> Result<Value, String> {
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

pub(crate) fn chunklist(args: FuncArgs) -> Result<Value, String> {
    let list = as_list(&args[0])?;
    let size = as_i64(&args[1])?;
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

/// The first argument that is not null nor an empty string.
pub(crate) fn coalesce(args: FuncArgs) -> Result<Value, String> {
    args.iter()
        .find(|v| match v {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        })
        .cloned()
        .ok_or_else(|| "no non-null, non-empty-string arguments".to_string())
}

pub(crate) fn coalescelist(args: FuncArgs) -> Result<Value, String> {
    if args.is_empty() {
        return Err("at least one argument is required".to_string());
    }
    for arg in args.iter() {
        if !as_list(arg)?.is_empty() {
            return Ok(arg.clone());
        }
    }
    Err("no non-null arguments".to_string())
}

/// `range(limit)`, `range(start, limit)`, `range(start, limit, step)`.
pub(crate) fn range(args: FuncArgs) -> Result<Value, String> {
    let numbers: Vec<f64> = args.iter().map(as_f64).collect::<Result<_, _>>()?;
    let (start, end, step) = match numbers.as_slice() {
        [end] => (0.0, *end, 1.0),
        [start, end] => (*start, *end, if start > end { -1.0 } else { 1.0 }),
        [start, end, step] => (*start, *end, *step),
        _ => return Err("must have one, two, or three arguments".to_string()),
    };
    if step == 0.0 {
        return Err("step must not be zero".to_string());
    }
    if (step > 0.0 && start > end) || (step < 0.0 && start < end) {
        return Err(format!(
            "step must be {} when start is {} limit",
            if step > 0.0 { "negative" } else { "positive" },
            if step > 0.0 {
                "greater than"
            } else {
                "less than"
            }
        ));
    }
    let mut out = Vec::new();
    let mut n = start;
    while (step > 0.0 && n < end) || (step < 0.0 && n > end) {
        if out.len() >= 1024 {
            return Err("more than 1024 values were generated; either decrease the difference between start and end or use a smaller step".to_string());
        }
        out.push(number(n));
        n += step;
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

pub(crate) fn setunion(args: FuncArgs) -> Result<Value, String> {
    let mut all = Vec::new();
    for arg in args.iter() {
        all.extend(as_list(arg)?.iter().cloned());
    }
    Ok(Value::Array(as_set(all)))
}

pub(crate) fn setintersection(args: FuncArgs) -> Result<Value, String> {
    let first = as_list(&args[0])?;
    let rest: Vec<&Vec<Value>> = args[1..].iter().map(as_list).collect::<Result<_, _>>()?;
    Ok(Value::Array(as_set(
        first
            .iter()
            .filter(|item| rest.iter().all(|other| other.contains(item)))
            .cloned(),
    )))
}

pub(crate) fn setproduct(args: FuncArgs) -> Result<Value, String> {
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

pub(crate) fn zipmap(args: FuncArgs) -> Result<Value, String> {
    let keys = as_list(&args[0])?;
    let values = as_list(&args[1])?;
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
