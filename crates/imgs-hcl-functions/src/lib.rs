//! Packer 1.6.6's HCL2 functions over hcl-rs values, and its variable type constraints.
//!
//! hcl-rs parses and evaluates expressions; this crate supplies the functions Packer 1.6.6 has
//! (`hcl2template/functions.go`: go-cty's standard library, the Terraform functions of that era
//! and Packer's own), with their results and their errors, and the type constraints of variable
//! blocks. [`evaluate`] calls the functions itself rather than through hcl-rs (see its docs): `try`
//! and `can` see their arguments' *errors*, `convert` takes a type expression, and the functions
//! that read the machine (`file`, `fileset`, `abspath`, `timestamp`, `uuidv4`, …) go through the
//! caller's [`Host`], so the crate itself does no I/O.
//!
//! Error messages are Packer's diagnostics as `summary; detail`.

mod collections;
mod encoding;
mod functions;
mod host_calls;
mod network;
mod numeric;
mod printable;
mod strings;
mod time;
mod types;

use std::path::{Path, PathBuf};

use hcl::eval::Context;
use hcl::{Expression, Value};

pub use printable::{go_g, go_quote, printable};
pub use types::{TypeConstraint, convert, type_constraint};

/// What the functions that read the machine see. The caller implements it over the real file
/// system (or over test fixtures).
pub trait Host {
    /// `path.cwd`: `abspath` resolves relative paths against it.
    fn working_dir(&self) -> PathBuf;
    /// The configuration's directory (`path.root`, from the working directory): `file`,
    /// `fileexists` and `fileset` resolve relative paths against it, as Packer 1.6.6 does.
    fn base_dir(&self) -> PathBuf;
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, String>;
    fn is_file(&self, path: &Path) -> Result<bool, String>;
    /// Files under `base` matching `pattern` (Go's `filepath.Match` syntax per segment and `**`
    /// not supported, as in Packer 1.6.6's `fileset`), as paths relative to `base` with `/`.
    fn glob(&self, base: &Path, pattern: &str) -> Result<Vec<String>, String>;
    fn home_dir(&self) -> Option<PathBuf>;
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
    fn uuid_v4(&self) -> String;
}

/// An expression that could not be evaluated, with Packer's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError {
    pub message: String,
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EvalError {}

impl EvalError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        EvalError {
            message: message.into(),
        }
    }
}

/// The names of every function Packer 1.6.6's HCL2 has.
pub fn function_names() -> impl Iterator<Item = &'static str> {
    functions::SPECS.iter().map(|spec| spec.name)
}

/// A context holding Packer's functions, for the caller to declare its variables in.
///
/// [`evaluate`] calls functions itself; the declarations serve calls hcl-rs makes, which are those
/// inside `%{for}` template directives only.
pub fn context() -> Context<'static> {
    static FUNCTIONS_CONTEXT: std::sync::OnceLock<Context<'static>> = std::sync::OnceLock::new();
    FUNCTIONS_CONTEXT
        .get_or_init(|| {
            let mut ctx = Context::new();
            functions::declare_for_templates(&mut ctx);
            ctx
        })
        .clone()
}

/// Evaluate `expr` in `ctx` (made by [`context`], with the caller's variables declared).
///
/// Every function call is evaluated here, innermost first, and replaced by its value before
/// hcl-rs evaluates what is left (operators, traversals, templates): that gives `try`/`can` their
/// lazily evaluated arguments, `convert` its type expression, the host functions the [`Host`]
/// without any global state (hcl-rs's functions are plain `fn` pointers), and every call
/// Packer's argument checks and messages. `for` expressions are expanded here too, so calls in
/// their bodies see the iteration variables.
pub fn evaluate(expr: &Expression, ctx: &Context, host: &dyn Host) -> Result<Value, EvalError> {
    host_calls::value_of(expr, ctx, host)
}

/// An hcl-rs error in Packer's words (summary; detail) where the kind is one Packer names.
pub(crate) fn packer_message(error: &hcl::eval::Error) -> String {
    use hcl::eval::ErrorKind;
    match error.kind() {
        ErrorKind::UndefinedVar(name) => {
            format!("Unknown variable; There is no variable named \"{name}\".")
        }
        ErrorKind::UndefinedFunc(name) => functions::unknown_function(&name.to_string()).message,
        ErrorKind::NoSuchKey(_) if indexes(error.expr()) => {
            "Invalid index; The given key does not identify an element in this collection value."
                .to_string()
        }
        ErrorKind::NoSuchKey(key) => format!(
            "Unsupported attribute; This object does not have an attribute named \"{key}\"."
        ),
        ErrorKind::Index(_) => {
            "Invalid index; The given key does not identify an element in this collection value."
                .to_string()
        }
        ErrorKind::FuncCall(_, message) => message.clone(),
        _ => error.to_string(),
    }
}

/// Whether the failing expression ends in an index (`x["k"]`), which Packer reports as an invalid
/// index rather than a missing attribute.
fn indexes(expr: Option<&Expression>) -> bool {
    matches!(expr, Some(Expression::Traversal(t))
        if matches!(t.operators.last(), Some(hcl::expr::TraversalOperator::Index(_))))
}

/// Implementations return `Err(String)`; an error about one argument (which Packer reports as
/// "Invalid value for "<parameter>" parameter") carries the argument's index behind this marker,
/// which no message of ours contains otherwise, and [`functions::call`] takes it apart.
const ARG_ERROR_MARK: char = '\u{1}';

pub(crate) fn arg_error(index: usize, message: impl std::fmt::Display) -> String {
    format!("{ARG_ERROR_MARK}{index}{ARG_ERROR_MARK}{message}")
}

pub(crate) fn split_arg_error(message: &str) -> Option<(usize, &str)> {
    let rest = message.strip_prefix(ARG_ERROR_MARK)?;
    let (index, detail) = rest.split_once(ARG_ERROR_MARK)?;
    Some((index.parse().ok()?, detail))
}

/// A value's type as cty's messages name it.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "dynamic",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "tuple",
        Value::Object(_) => "object",
    }
}

/// A number value from an f64: whole numbers as integers, as cty prints them.
pub(crate) fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        Value::Number(hcl::Number::from(n as i64))
    } else {
        hcl::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// The f64 of a number value, or of a string holding one (cty converts strings to numbers).
pub(crate) fn as_f64(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| "a number is required".to_string()),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| "a number is required".to_string()),
        _ => Err("a number is required".to_string()),
    }
}

/// A whole number argument.
pub(crate) fn as_i64(value: &Value) -> Result<i64, String> {
    let n = as_f64(value)?;
    if n.fract() != 0.0 || n.abs() >= 9_223_372_036_854_775_808.0 {
        return Err(
            "value must be a whole number, between -9223372036854775808 and 9223372036854775807"
                .to_string(),
        );
    }
    Ok(n as i64)
}

/// A string argument (numbers and bools convert, as cty converts them).
pub(crate) fn as_string(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err("argument must not be null".to_string()),
        _ => Err("string required".to_string()),
    }
}

/// A list argument: arrays (lists, sets and tuples are all arrays here).
pub(crate) fn as_list(value: &Value) -> Result<&Vec<Value>, String> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err("list of any single type required".to_string()),
    }
}

#[cfg(test)]
mod tests;
