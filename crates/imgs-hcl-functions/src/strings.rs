//! String functions (go-cty's stdlib and Terraform's, as Packer 1.6.6 ships them).

use hcl::Value;

use unicode_segmentation::UnicodeSegmentation as _;

use crate::{arg_error, as_i64, as_list, as_string};

fn s(args: &[Value], i: usize) -> Result<String, String> {
    as_string(&args[i])
}

/// Go's `unicode.ToUpper` per character: a one-to-one mapping, so `ß` stays (Rust's full mapping
/// would give `SS`).
pub(crate) fn upper(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    Ok(Value::String(
        text.chars()
            .map(|c| {
                let mut upper = c.to_uppercase();
                match (upper.next(), upper.next()) {
                    (Some(u), None) => u,
                    _ => c,
                }
            })
            .collect(),
    ))
}

/// Go's `unicode.ToLower` per character (the first character of a longer mapping: `İ` is `i`).
pub(crate) fn lower(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    Ok(Value::String(
        text.chars()
            .map(|c| c.to_lowercase().next().unwrap_or(c))
            .collect(),
    ))
}

/// Go's `strings.Title`: the first letter after a separator upper-cased; separators are ASCII
/// characters other than letters, digits and `_`, and non-ASCII white space.
pub(crate) fn title(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    let mut out = String::with_capacity(text.len());
    let mut previous: Option<char> = None;
    for c in text.chars() {
        let starts_word = previous.is_none_or(|p| {
            if p.is_ascii() {
                !(p.is_ascii_alphanumeric() || p == '_')
            } else {
                !p.is_alphanumeric() && p.is_whitespace()
            }
        });
        if starts_word {
            let mut upper = c.to_uppercase();
            out.push(match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => c,
            });
        } else {
            out.push(c);
        }
        previous = Some(c);
    }
    Ok(Value::String(out))
}

/// Go's `strings.Trim`: every leading and trailing character that is in the cutset.
pub(crate) fn trim(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    let cutset: Vec<char> = s(args, 1)?.chars().collect();
    Ok(Value::String(
        text.trim_matches(|c| cutset.contains(&c)).to_string(),
    ))
}

pub(crate) fn trimprefix(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    let prefix = s(args, 1)?;
    Ok(Value::String(
        text.strip_prefix(prefix.as_str())
            .unwrap_or(&text)
            .to_string(),
    ))
}

pub(crate) fn trimsuffix(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    let suffix = s(args, 1)?;
    Ok(Value::String(
        text.strip_suffix(suffix.as_str())
            .unwrap_or(&text)
            .to_string(),
    ))
}

/// Unicode white space at both ends, as Go's `strings.TrimSpace`.
pub(crate) fn trimspace(args: &[Value]) -> Result<Value, String> {
    Ok(Value::String(s(args, 0)?.trim().to_string()))
}

/// Every trailing newline (`\n`, `\r\n` or `\r`) removed.
pub(crate) fn chomp(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    Ok(Value::String(
        text.trim_end_matches(['\n', '\r']).to_string(),
    ))
}

/// Every line but the first prefixed with `spaces` spaces.
pub(crate) fn indent(args: &[Value]) -> Result<Value, String> {
    let spaces = as_i64(&args[0])?;
    let text = s(args, 1)?;
    // Go's strings.Repeat panics on a negative count; Packer reports that panic as the error.
    let count =
        usize::try_from(spaces).map_err(|_| "strings: negative Repeat count".to_string())?;
    if count > 1_000_000 {
        return Err(format!("an indent of {count} spaces is too large"));
    }
    let pad = " ".repeat(count);
    Ok(Value::String(text.replace('\n', &format!("\n{pad}"))))
}

/// Reversed by grapheme cluster, as cty reverses (`👋🏽` stays one).
pub(crate) fn strrev(args: &[Value]) -> Result<Value, String> {
    Ok(Value::String(s(args, 0)?.graphemes(true).rev().collect()))
}

/// `substr(string, offset, length)`: grapheme clusters; a negative offset counts from the end, a
/// negative length runs to the end.
pub(crate) fn substr(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    let chars: Vec<&str> = text.graphemes(true).collect();
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
        chars[offset as usize..end.max(offset) as usize].concat(),
    ))
}

pub(crate) fn split(args: &[Value]) -> Result<Value, String> {
    let sep = s(args, 0)?;
    let text = s(args, 1)?;
    // Go's strings.Split: an empty separator splits after each character.
    let parts: Vec<Value> = if sep.is_empty() {
        // Go splits "" into no parts at all.
        text.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        text.split(sep.as_str())
            .map(|p| Value::String(p.to_string()))
            .collect()
    };
    Ok(Value::Array(parts))
}

pub(crate) fn join(args: &[Value]) -> Result<Value, String> {
    let sep = s(args, 0)?;
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
pub(crate) fn replace(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    let search = s(args, 1)?;
    let replacement = s(args, 2)?;
    Ok(Value::String(text.replace(&search, &replacement)))
}

/// Packer's own `regex_replace(string, pattern, replacement)` (Go's `ReplaceAllString`).
pub(crate) fn regex_replace(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    let pattern = s(args, 1)?;
    let re = regex::Regex::new(&pattern).map_err(|e| regexp_error(&pattern, &e))?;
    let replacement = s(args, 2)?;
    Ok(Value::String(
        re.replace_all(&text, go_replacement(&replacement).as_str())
            .into_owned(),
    ))
}

/// A pattern error in the words of Go's `regexp` where the kind is one it names.
fn regexp_error(pattern: &str, error: &regex::Error) -> String {
    let text = error.to_string();
    let kind = if text.contains("unclosed character class") {
        "missing closing ]"
    } else if text.contains("unclosed group") {
        "missing closing )"
    } else if text.contains("unopened group") {
        "unexpected )"
    } else if text.contains("repetition operator missing expression") {
        "missing argument to repetition operator"
    } else {
        return format!(
            "error parsing regexp: {}",
            text.lines().last().unwrap_or_default()
        );
    };
    format!("error parsing regexp: {kind}: `{pattern}`")
}

/// Go's `$1`/`${name}` expansion reads the longest name after `$` (`$1x` is group `1x`); the
/// regex crate does the same, so the text passes as it is.
fn go_replacement(replacement: &str) -> String {
    replacement.to_string()
}

pub(crate) fn format(args: &[Value]) -> Result<Value, String> {
    let spec = s(args, 0)?;
    let (text, used) = crate::encoding::go_format(&spec, &args[1..])?;
    if used < args.len() - 1 {
        return Err(arg_error(
            used + 1,
            format!("too many arguments; only {used} used by format string"),
        ));
    }
    Ok(Value::String(text))
}

/// `format` applied element-wise: list arguments are iterated together (all the same length),
/// other arguments repeat.
pub(crate) fn formatlist(args: &[Value]) -> Result<Value, String> {
    let spec = s(args, 0)?;
    let rest = &args[1..];
    let mut length: Option<(usize, usize)> = None;
    for (i, arg) in rest.iter().enumerate() {
        if let Value::Array(items) = arg {
            match length {
                Some((n, first)) if n != items.len() => {
                    return Err(arg_error(
                        i + 1,
                        format!(
                            "argument {} has length {}, which is inconsistent with argument {first} of length {n}",
                            i + 1,
                            items.len()
                        ),
                    ));
                }
                Some(_) => {}
                None => length = Some((items.len(), i + 1)),
            }
        }
    }
    let Some((n, _)) = length else {
        return Ok(Value::Array(vec![Value::String(
            crate::encoding::go_format(&spec, rest)?.0,
        )]));
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let row: Vec<Value> = rest
            .iter()
            .map(|a| match a {
                Value::Array(items) => items.get(i).cloned().unwrap_or(Value::Null),
                other => other.clone(),
            })
            .collect();
        out.push(Value::String(crate::encoding::go_format(&spec, &row)?.0));
    }
    Ok(Value::Array(out))
}

/// Go's `filepath.Base`.
pub(crate) fn basename(args: &[Value]) -> Result<Value, String> {
    let path = s(args, 0)?;
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
pub(crate) fn dirname(args: &[Value]) -> Result<Value, String> {
    let path = s(args, 0)?;
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
