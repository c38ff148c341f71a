//! The function set of a Packer 1.6.6 JSON template: Packer's own functions, the builder-specific
//! `clean_resource_name`, and the Go builtins. Signatures follow the Go functions, so arity and type
//! errors match what Packer reports.

use super::builtins;
use super::clean_name;
use super::go_time::format_go_time;
use super::strftime::format_strftime;
use super::value::Value;
use super::{Context, ErrorKind, PACKER_VERSION, Volatile};

/// Parameter type of a Go function, for argument checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Param {
    Str,
    Int,
    /// `interface{}`: anything.
    Any,
}

impl Param {
    pub(super) fn go_name(self) -> &'static str {
        match self {
            Param::Str => "string",
            Param::Int => "int",
            Param::Any => "interface {}",
        }
    }
}

pub(super) struct Signature {
    pub fixed: &'static [Param],
    pub variadic: Option<Param>,
}

const fn sig(fixed: &'static [Param]) -> Signature {
    Signature {
        fixed,
        variadic: None,
    }
}

const fn variadic(fixed: &'static [Param], rest: Param) -> Signature {
    Signature {
        fixed,
        variadic: Some(rest),
    }
}

use Param::{Any, Int, Str};

/// Functions Packer defines everywhere (builder-specific ones are in [`is_defined`]).
const PACKER_FUNCTIONS: &[&str] = &[
    "aws_secretsmanager",
    "build",
    "build_name",
    "build_type",
    "consul_key",
    "env",
    "isotime",
    "lower",
    "packer_version",
    "pwd",
    "replace",
    "replace_all",
    "sed",
    "split",
    "strftime",
    "template_dir",
    "timestamp",
    "upper",
    "user",
    "uuid",
    "vault",
];

/// Go text/template's predefined functions (Go 1.19).
const GO_BUILTINS: &[&str] = &[
    "and", "call", "eq", "ge", "gt", "html", "index", "js", "le", "len", "lt", "ne", "not", "or",
    "print", "printf", "println", "slice", "urlquery",
];

/// Whether `name` is a function in a template rendered for `build_type` (Packer adds
/// `clean_resource_name` only in the configuration of builders that name cloud resources).
pub(super) fn is_defined(name: &str, build_type: Option<&str>) -> bool {
    if name == "clean_resource_name" {
        return build_type.and_then(clean_name::rule_for).is_some();
    }
    PACKER_FUNCTIONS.contains(&name) || GO_BUILTINS.contains(&name)
}

/// Every function name available for `build_type`, for typo hints.
pub(super) fn names(build_type: Option<&str>) -> impl Iterator<Item = &'static str> {
    let clean = build_type
        .and_then(clean_name::rule_for)
        .map(|_| "clean_resource_name");
    PACKER_FUNCTIONS
        .iter()
        .chain(GO_BUILTINS)
        .copied()
        .chain(clean)
}

pub(super) fn signature(name: &str) -> Option<Signature> {
    Some(match name {
        "build_name" | "build_type" | "packer_version" | "pwd" | "template_dir" | "timestamp"
        | "uuid" => sig(&[]),
        "env"
        | "user"
        | "lower"
        | "upper"
        | "strftime"
        | "consul_key"
        | "build"
        | "clean_resource_name" => sig(&[Str]),
        "isotime" | "aws_secretsmanager" => variadic(&[], Str),
        "split" => sig(&[Str, Str, Int]),
        "replace" => sig(&[Str, Str, Int, Str]),
        "replace_all" => sig(&[Str, Str, Str]),
        "vault" | "sed" => sig(&[Str, Str]),
        "and" | "or" => variadic(&[Any], Any),
        "not" | "len" => sig(&[Any]),
        "eq" => variadic(&[Any], Any),
        "ne" | "lt" | "le" | "gt" | "ge" => sig(&[Any, Any]),
        "index" => variadic(&[Any], Any),
        "print" | "println" => variadic(&[], Any),
        "printf" => variadic(&[Str], Any),
        "html" | "js" | "urlquery" => variadic(&[], Any),
        "call" | "slice" => variadic(&[Any], Any),
        _ => return None,
    })
}

/// How a function is called, for hints; the last argument is the one a pipeline supplies.
pub(super) fn usage(name: &str) -> Option<&'static str> {
    Some(match name {
        "user" => "{{user `name`}}",
        "env" => "{{env `NAME`}} (only in a variable's default)",
        "isotime" => "{{isotime}} or {{isotime `2006-01-02`}} (a Go layout)",
        "strftime" => "{{strftime `%Y-%m-%d`}}",
        "split" => "{{split STRING SEPARATOR INDEX}}, e.g. {{split `a-b` `-` 0}}",
        "replace" => {
            "{{replace OLD NEW COUNT STRING}}, e.g. {{replace `.` `-` -1 (user `v`)}} (-1: all)"
        }
        "replace_all" => "{{replace_all OLD NEW STRING}}",
        "lower" => "{{lower STRING}} or {{... | lower}}",
        "upper" => "{{upper STRING}} or {{... | upper}}",
        "clean_resource_name" => "{{clean_resource_name STRING}} or {{... | clean_resource_name}}",
        "build" => "{{build `Field`}}, e.g. {{build `ID`}}",
        "printf" => "{{printf FORMAT ARGS...}}",
        "build_name" | "build_type" | "template_dir" | "pwd" | "timestamp" | "uuid"
        | "packer_version" => "it takes no arguments",
        _ => return None,
    })
}

/// What a function needs besides its arguments.
pub(super) struct Call<'c, 'a> {
    pub ctx: &'c Context<'a>,
    /// The calling command's source text: the stable stand-in for run-dependent values.
    pub source: &'c str,
    pub env_read: &'c mut Vec<String>,
    pub user_read: &'c mut Vec<String>,
}

/// A function's failure. Most are reported as Go does ("error calling NAME: …"); `standalone`
/// messages are complete sentences of their own.
#[derive(Debug)]
pub(super) struct FuncError {
    pub message: String,
    pub hint: Option<String>,
    pub kind: ErrorKind,
    pub standalone: bool,
}

impl FuncError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            kind: ErrorKind::Execute,
            standalone: false,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    fn unsupported(name: &str, hint: &str) -> Self {
        Self {
            message: format!("`{name}` is not supported by imgs"),
            hint: Some(hint.to_owned()),
            kind: ErrorKind::Unsupported,
            standalone: true,
        }
    }
}

type Result<'a, T = Value<'a>> = std::result::Result<T, FuncError>;

fn text(value: &Value<'_>) -> String {
    value.to_text()
}

fn int(value: &Value<'_>) -> i64 {
    match value {
        Value::Int(i) => *i,
        _ => 0,
    }
}

fn remember(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| n == name) {
        list.push(name.to_owned());
    }
}

const SECRET_HINT: &str = "imgs does not read secret stores; pass the value with `-var name=value` or an \
     environment variable read by `{{env `NAME`}}` in a variable's default";

pub(super) fn call<'a>(name: &str, call: Call<'_, 'a>, args: Vec<Value<'a>>) -> Result<'a> {
    let ctx = call.ctx;
    let str_arg = |i: usize| args.get(i).map(text).unwrap_or_default();
    match name {
        "user" => {
            let key = str_arg(0);
            remember(call.user_read, &key);
            match ctx.user_variables.get(&key) {
                Some(value) => Ok(Value::Str(value.clone())),
                // While variables are resolved a missing one is an error (it may be set later, or never);
                // elsewhere Packer yields an empty string.
                None if ctx.env.is_some() => Err(FuncError {
                    kind: ErrorKind::UnsetVariable(key.clone()),
                    ..FuncError::new(format!("variable not set: {key}"))
                }),
                None => Ok(Value::Str(String::new())),
            }
        }
        "env" => {
            let key = str_arg(0);
            match ctx.env {
                Some(env) => {
                    remember(call.env_read, &key);
                    Ok(Value::Str(env.get(&key).cloned().unwrap_or_default()))
                }
                None => Err(FuncError::new("env vars are not allowed here").hint(format!(
                    "`env` works only in the default value of a variable: declare one with the default \
                     \"{{{{env `{key}`}}}}\" and use it here with {{{{user `name`}}}}"
                ))),
            }
        }
        "build_name" => available(ctx.build_name, "build_name not available"),
        "build_type" => available(ctx.build_type, "build_type not available"),
        "template_dir" => available(Some(ctx.template_dir), "template path not available"),
        "pwd" => Ok(Value::Str(ctx.pwd.to_owned())),
        "packer_version" => Ok(Value::Str(PACKER_VERSION.to_owned())),
        "timestamp" => Ok(volatile(ctx.volatile, call.source, |t| {
            t.timestamp().to_string()
        })),
        "isotime" => {
            if args.len() > 1 {
                let list: Vec<String> = args.iter().map(text).collect();
                return Err(FuncError::new(format!(
                    "too many values, 1 needed: [{}]",
                    list.join(" ")
                )));
            }
            let layout = args.first().map_or_else(|| RFC3339.to_owned(), text);
            Ok(volatile(ctx.volatile, call.source, |t| {
                format_go_time(&layout, t)
            }))
        }
        "strftime" => {
            let format = str_arg(0);
            Ok(volatile(ctx.volatile, call.source, |t| {
                format_strftime(&format, t)
            }))
        }
        "uuid" => Ok(volatile(ctx.volatile, call.source, |_| {
            time_ordered_uuid(chrono::Utc::now())
        })),
        "split" => split(&str_arg(0), &str_arg(1), int(&args[2])),
        "replace" => {
            let n = int(&args[2]);
            let (old, new, src) = (str_arg(0), str_arg(1), str_arg(3));
            Ok(Value::Str(if n < 0 {
                src.replace(&old, &new)
            } else {
                src.replacen(&old, &new, n as usize)
            }))
        }
        "replace_all" => Ok(Value::Str(str_arg(2).replace(&str_arg(0), &str_arg(1)))),
        "lower" => Ok(Value::Str(go_lower(&str_arg(0)))),
        "upper" => Ok(Value::Str(go_upper(&str_arg(0)))),
        "clean_resource_name" => {
            let rule = ctx.build_type.and_then(clean_name::rule_for);
            match rule {
                Some(rule) => Ok(Value::Str(clean_name::clean(rule, &str_arg(0)))),
                None => Err(FuncError::new(
                    "clean_resource_name is not available for this builder",
                )),
            }
        }
        "build" => {
            let key = str_arg(0);
            match ctx.data.get(&key) {
                Some(value) => Ok(Value::Str(value.clone())),
                None if ctx.data.is_empty() => Err(FuncError::new(format!(
                    "Error validating build variable: the given variable {key} will not be passed into your plugin."
                ))),
                None => Err(FuncError::new(format!(
                    "loaded data, but couldn't find {key} in it."
                ))),
            }
        }
        "sed" => Err(FuncError::new(
            "`sed` is deprecated; use `replace` or `replace_all` instead",
        )),
        "consul_key" | "vault" | "aws_secretsmanager" => {
            Err(FuncError::unsupported(name, SECRET_HINT))
        }
        _ => builtins::call(name, args),
    }
}

const RFC3339: &str = "2006-01-02T15:04:05Z07:00";

fn available<'a>(value: Option<&str>, missing: &str) -> Result<'a> {
    match value {
        Some(v) if !v.is_empty() => Ok(Value::Str(v.to_owned())),
        _ => Err(FuncError::new(missing)),
    }
}

/// A value that differs between runs: real, or the command's own text so fingerprints stay stable.
fn volatile<'a>(
    volatile: &Volatile,
    source: &str,
    real: impl FnOnce(chrono::DateTime<chrono::Utc>) -> String,
) -> Value<'a> {
    match volatile {
        Volatile::Real { init_time } => Value::Str(real(*init_time)),
        Volatile::Placeholder => Value::Str(format!("{{{{{source}}}}}")),
    }
}

/// Packer's time-ordered UUID: 8 hex digits of the current Unix time, then 24 random hex digits,
/// grouped 8-4-4-4-12.
pub(super) fn time_ordered_uuid(now: chrono::DateTime<chrono::Utc>) -> String {
    let random = uuid::Uuid::new_v4();
    let bytes = random.as_bytes();
    // Skip the version and variant bits of the v4 UUID so all 96 bits are random.
    let mut b = [0u8; 12];
    b[..6].copy_from_slice(&bytes[..6]);
    b[6..].copy_from_slice(&bytes[9..15]);
    let hex = |s: &[u8]| s.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "{:08x}-{}-{}-{}-{}",
        now.timestamp() as u32,
        hex(&b[0..2]),
        hex(&b[2..4]),
        hex(&b[4..6]),
        hex(&b[6..12])
    )
}

/// Packer's `split`: the `index`-th piece of `s` split by `sep` (Go's strings.Split).
fn split<'a>(s: &str, sep: &str, index: i64) -> Result<'a> {
    let pieces: Vec<&str> = if sep.is_empty() {
        // Go splits into UTF-8 sequences; Rust's split("") would add empty ends.
        s.char_indices()
            .map(|(i, c)| &s[i..i + c.len_utf8()])
            .collect()
    } else {
        s.split(sep).collect()
    };
    if index < 0 {
        // Go's index expression panics; text/template reports the panic as the call's error.
        return Err(FuncError::new(format!(
            "runtime error: index out of range [{index}]"
        )));
    }
    match pieces.get(index as usize) {
        Some(piece) => Ok(Value::Str((*piece).to_owned())),
        None => Err(FuncError::new(format!(
            "the substring {index} was unavailable using the separator value, {sep}, only {} values were found",
            pieces.len()
        ))),
    }
}

/// Go's strings.ToLower maps each character on its own (no context rules such as final sigma).
pub(super) fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

/// Go's strings.ToUpper keeps characters whose upper case is more than one character (`ß`).
pub(super) fn go_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}
