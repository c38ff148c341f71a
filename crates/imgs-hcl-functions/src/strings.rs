//! String functions (go-cty's stdlib and Terraform's, as Packer 1.6.6 ships them).

use hcl::Value;
use hcl::eval::FuncArgs;

use crate::{as_i64, as_list, as_string};

fn s(args: &FuncArgs, i: usize) -> Result<String, String> {
    as_string(&args[i])
}

pub(crate) fn upper(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(s(&args, 0)?.to_uppercase()))
}

pub(crate) fn lower(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(s(&args, 0)?.to_lowercase()))
}

/// Go's `strings.Title`: the first letter of each word (after a non-letter) upper-cased.
pub(crate) fn title(args: FuncArgs) -> Result<Value, String> {
    let text = s(&args, 0)?;
    let mut out = String::with_capacity(text.len());
    let mut previous: Option<char> = None;
    for c in text.chars() {
        let starts_word = previous.is_none_or(|p| !(p.is_alphanumeric() || p == '_' || p == '\''));
        if starts_word {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        previous = Some(c);
    }
    Ok(Value::String(out))
}

/// Go's `strings.Trim`: every leading and trailing character that is in the cutset.
pub(crate) fn trim(args: FuncArgs) -> Result<Value, String> {
    let text = s(&args, 0)?;
    let cutset: Vec<char> = s(&args, 1)?.chars().collect();
    Ok(Value::String(
        text.trim_matches(|c| cutset.contains(&c)).to_string(),
    ))
}

pub(crate) fn trimprefix(args: FuncArgs) -> Result<Value, String> {
    let text = s(&args, 0)?;
    let prefix = s(&args, 1)?;
    Ok(Value::String(
        text.strip_prefix(prefix.as_str())
            .unwrap_or(&text)
            .to_string(),
    ))
}

pub(crate) fn trimsuffix(args: FuncArgs) -> Result<Value, String> {
    let text = s(&args, 0)?;
    let suffix = s(&args, 1)?;
    Ok(Value::String(
        text.strip_suffix(suffix.as_str())
            .unwrap_or(&text)
            .to_string(),
    ))
}

/// Unicode white space at both ends, as Go's `strings.TrimSpace`.
pub(crate) fn trimspace(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(s(&args, 0)?.trim().to_string()))
}

/// Every trailing newline (`\n`, `\r\n` or `\r`) removed.
pub(crate) fn chomp(args: FuncArgs) -> Result<Value, String> {
    let text = s(&args, 0)?;
    Ok(Value::String(
        text.trim_end_matches(['\n', '\r']).to_string(),
    ))
}

/// Every line but the first prefixed with `spaces` spaces.
pub(crate) fn indent(args: FuncArgs) -> Result<Value, String> {
    let spaces = as_i64(&args[0])?;
    let text = s(&args, 1)?;
    let pad = " ".repeat(usize::try_from(spaces).unwrap_or(0));
    Ok(Value::String(text.replace('\n', &format!("\n{pad}"))))
}

pub(crate) fn strrev(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(s(&args, 0)?.chars().rev().collect()))
}

/// `substr(string, offset, length)`: characters; a negative offset counts from the end, a
/// length of -1 runs to the end.
pub(crate) fn substr(args: FuncArgs) -> Result<Value, String> {
    let chars: Vec<char> = s(&args, 0)?.chars().collect();
    let len = chars.len() as i64;
    let mut offset = as_i64(&args[1])?;
    let length = as_i64(&args[2])?;
    if offset < 0 {
        offset += len;
        if offset < 0 {
            offset = 0;
        }
    }
    if offset > len {
        return Ok(Value::String(String::new()));
    }
    let end = if length < 0 {
        len
    } else {
        (offset + length).min(len)
    };
    Ok(Value::String(
        chars[offset as usize..end.max(offset) as usize]
            .iter()
            .collect(),
    ))
}

pub(crate) fn split(args: FuncArgs) -> Result<Value, String> {
    let sep = s(&args, 0)?;
    let text = s(&args, 1)?;
    // Go's strings.Split: an empty separator splits after each character.
    let parts: Vec<Value> = if sep.is_empty() {
        text.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        text.split(sep.as_str())
            .map(|p| Value::String(p.to_string()))
            .collect()
    };
    Ok(Value::Array(parts))
}

pub(crate) fn join(args: FuncArgs) -> Result<Value, String> {
    let sep = s(&args, 0)?;
    if args.len() < 2 {
        return Err("at least one list is required".to_string());
    }
    let mut items = Vec::new();
    for list in &args[1..] {
        for item in as_list(list)? {
            if item.is_null() {
                return Err(
                    "element of the list is null; cannot concatenate null values".to_string(),
                );
            }
            items.push(as_string(item)?);
        }
    }
    Ok(Value::String(items.join(&sep)))
}

/// `replace(string, substring, replacement)`: every occurrence. Packer 1.6.6's is cty's plain
/// one: a substring between slashes is not a regular expression there (Terraform's is).
pub(crate) fn replace(args: FuncArgs) -> Result<Value, String> {
    let text = s(&args, 0)?;
    let search = s(&args, 1)?;
    let replacement = s(&args, 2)?;
    Ok(Value::String(text.replace(&search, &replacement)))
}

/// Packer's own `regex_replace(string, pattern, replacement)` (Go's `ReplaceAllString`).
pub(crate) fn regex_replace(args: FuncArgs) -> Result<Value, String> {
    let text = s(&args, 0)?;
    let re =
        regex::Regex::new(&s(&args, 1)?).map_err(|e| format!("invalid regular expression: {e}"))?;
    let replacement = s(&args, 2)?;
    Ok(Value::String(
        re.replace_all(&text, go_replacement(&replacement).as_str())
            .into_owned(),
    ))
}

/// Go's `$1`/`${name}` expansion reads the longest name after `$` (`$1x` is group `1x`); the
/// regex crate does the same, so the text passes as it is.
fn go_replacement(replacement: &str) -> String {
    replacement.to_string()
}

pub(crate) fn format(args: FuncArgs) -> Result<Value, String> {
    let spec = s(&args, 0)?;
    crate::encoding::go_format(&spec, &args[1..]).map(Value::String)
}

/// `format` applied element-wise: list arguments are iterated together (all the same length),
/// other arguments repeat.
pub(crate) fn formatlist(args: FuncArgs) -> Result<Value, String> {
    let spec = s(&args, 0)?;
    let rest = &args[1..];
    let mut length: Option<usize> = None;
    for arg in rest {
        if let Value::Array(items) = arg {
            match length {
                Some(n) if n != items.len() => {
                    return Err("all arguments must be lists of the same length".to_string());
                }
                _ => length = Some(items.len()),
            }
        }
    }
    let Some(n) = length else {
        return Ok(Value::Array(vec![Value::String(
            crate::encoding::go_format(&spec, rest)?,
        )]));
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let row: Vec<Value> = rest
            .iter()
            .map(|a| match a {
                Value::Array(items) => items[i].clone(),
                other => other.clone(),
            })
            .collect();
        out.push(Value::String(crate::encoding::go_format(&spec, &row)?));
    }
    Ok(Value::Array(out))
}

/// Go's `filepath.Base`.
pub(crate) fn basename(args: FuncArgs) -> Result<Value, String> {
    let path = s(&args, 0)?;
    if path.is_empty() {
        return Ok(Value::String(".".to_string()));
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(Value::String("/".to_string()));
    }
    Ok(Value::String(
        trimmed.rsplit('/').next().unwrap_or(trimmed).to_string(),
    ))
}

/// Go's `filepath.Dir`: everything before the last separator, cleaned.
pub(crate) fn dirname(args: FuncArgs) -> Result<Value, String> {
    let path = s(&args, 0)?;
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    Ok(Value::String(clean(dir)))
}

/// Go's `path.Clean` for slash-separated paths.
fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}
