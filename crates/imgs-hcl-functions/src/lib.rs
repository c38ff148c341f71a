//! Packer 1.6.6's HCL2 functions over hcl-rs values, and its variable type constraints.
//!
//! hcl-rs evaluates expressions and calls functions declared in its context; this crate declares
//! the functions Packer 1.6.6 has (`hcl2template/functions.go`: go-cty's standard library, the
//! Terraform functions of that era and Packer's own), with their results and their errors. Three
//! kinds of calls need more than a function over evaluated arguments, and are evaluated by this
//! crate before hcl-rs sees the expression:
//!
//! * `try` and `can` see their arguments' *errors*, which an eagerly evaluated argument list loses;
//! * `convert` takes a type expression (`list(string)`), not a value;
//! * the functions that read the machine (`file`, `fileset`, `abspath`, `timestamp`, `uuidv4`, …)
//!   go through the caller's [`Host`], so the crate itself does no I/O.
//!
//! Each such call is replaced by its value (an expression literal) in a copy of the expression,
//! innermost first, including inside string templates. Inside a `for` expression's body the
//! iteration variables are unknown beforehand, so calls there that read them fail.

mod collections;
mod encoding;
mod host_calls;
mod network;
mod numeric;
mod printable;
mod strings;
mod time;
mod types;

use std::path::{Path, PathBuf};

use hcl::eval::{Context, Evaluate, FuncDef, ParamType};
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
pub const FUNCTIONS: &[&str] = &[
    "abs",
    "abspath",
    "aws_secretsmanager",
    "basename",
    "base64decode",
    "base64encode",
    "bcrypt",
    "can",
    "ceil",
    "chomp",
    "chunklist",
    "cidrhost",
    "cidrnetmask",
    "cidrsubnet",
    "cidrsubnets",
    "coalesce",
    "coalescelist",
    "compact",
    "concat",
    "consul_key",
    "contains",
    "convert",
    "csvdecode",
    "dirname",
    "distinct",
    "element",
    "file",
    "fileexists",
    "fileset",
    "flatten",
    "floor",
    "format",
    "formatdate",
    "formatlist",
    "indent",
    "index",
    "join",
    "jsondecode",
    "jsonencode",
    "keys",
    "length",
    "log",
    "lookup",
    "lower",
    "max",
    "md5",
    "merge",
    "min",
    "parseint",
    "pathexpand",
    "pow",
    "range",
    "reverse",
    "replace",
    "regex_replace",
    "rsadecrypt",
    "setintersection",
    "setproduct",
    "setunion",
    "sha1",
    "sha256",
    "sha512",
    "signum",
    "slice",
    "sort",
    "split",
    "strrev",
    "substr",
    "timestamp",
    "timeadd",
    "title",
    "trim",
    "trimprefix",
    "trimspace",
    "trimsuffix",
    "try",
    "upper",
    "urlencode",
    "uuidv4",
    "uuidv5",
    "values",
    "vault",
    "yamldecode",
    "yamlencode",
    "zipmap",
];

/// A context holding Packer's functions, for the caller to declare its variables in.
pub fn context() -> Context<'static> {
    static FUNCTIONS_CONTEXT: std::sync::OnceLock<Context<'static>> = std::sync::OnceLock::new();
    FUNCTIONS_CONTEXT
        .get_or_init(|| {
            let mut ctx = Context::new();
            declare_functions(&mut ctx);
            ctx
        })
        .clone()
}

/// Evaluate `expr` in `ctx` (made by [`context`], with the caller's variables declared).
pub fn evaluate(expr: &Expression, ctx: &Context, host: &dyn Host) -> Result<Value, EvalError> {
    let prepared = host_calls::prepare(expr, ctx, host, false)?;
    prepared
        .evaluate(ctx)
        .map_err(|e| EvalError::new(packer_message(&e)))
}

/// An hcl-rs error in Packer's words where they differ.
pub(crate) fn packer_message(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    if let Some(rest) = text.split("undefined function `").nth(1) {
        let name = rest.split('`').next().unwrap_or_default();
        return format!("Call to unknown function: there is no function named \"{name}\".");
    }
    text
}

fn declare_functions(ctx: &mut Context) {
    use ParamType::{Any, Number, String};
    let arr = |p: ParamType| ParamType::array_of(p);
    let obj = |p: ParamType| ParamType::object_of(p);
    let f = |ctx: &mut Context, name: &str, params: Vec<ParamType>, func: hcl::eval::Func| {
        ctx.declare_func(name, FuncDef::builder().params(params).build(func));
    };
    let v = |ctx: &mut Context,
             name: &str,
             params: Vec<ParamType>,
             rest: ParamType,
             func: hcl::eval::Func| {
        ctx.declare_func(
            name,
            FuncDef::builder()
                .params(params)
                .variadic_param(rest)
                .build(func),
        );
    };
    // Strings.
    f(ctx, "upper", vec![String], strings::upper);
    f(ctx, "lower", vec![String], strings::lower);
    f(ctx, "title", vec![String], strings::title);
    f(ctx, "trim", vec![String, String], strings::trim);
    f(ctx, "trimprefix", vec![String, String], strings::trimprefix);
    f(ctx, "trimsuffix", vec![String, String], strings::trimsuffix);
    f(ctx, "trimspace", vec![String], strings::trimspace);
    f(ctx, "chomp", vec![String], strings::chomp);
    f(ctx, "indent", vec![Any, String], strings::indent);
    f(ctx, "strrev", vec![String], strings::strrev);
    f(ctx, "substr", vec![String, Any, Any], strings::substr);
    f(ctx, "split", vec![String, String], strings::split);
    v(ctx, "join", vec![String], Any, strings::join);
    f(
        ctx,
        "replace",
        vec![String, String, String],
        strings::replace,
    );
    f(
        ctx,
        "regex_replace",
        vec![String, String, String],
        strings::regex_replace,
    );
    v(ctx, "format", vec![String], Any, strings::format);
    v(ctx, "formatlist", vec![String], Any, strings::formatlist);
    // Collections.
    f(ctx, "length", vec![Any], collections::length);
    f(ctx, "element", vec![Any, Any], collections::element);
    f(ctx, "index", vec![Any, Any], collections::index);
    v(ctx, "concat", vec![], Any, collections::concat);
    f(ctx, "contains", vec![Any, Any], collections::contains);
    f(ctx, "distinct", vec![Any], collections::distinct);
    f(ctx, "flatten", vec![Any], collections::flatten);
    f(ctx, "keys", vec![Any], collections::keys);
    f(ctx, "values", vec![Any], collections::values);
    v(ctx, "lookup", vec![Any, String], Any, collections::lookup);
    v(ctx, "merge", vec![], Any, collections::merge);
    f(ctx, "reverse", vec![Any], collections::reverse);
    f(ctx, "slice", vec![Any, Any, Any], collections::slice);
    f(ctx, "sort", vec![Any], collections::sort);
    f(ctx, "compact", vec![Any], collections::compact);
    f(ctx, "chunklist", vec![Any, Any], collections::chunklist);
    v(ctx, "coalesce", vec![], Any, collections::coalesce);
    v(ctx, "coalescelist", vec![], Any, collections::coalescelist);
    v(ctx, "range", vec![], Any, collections::range);
    v(
        ctx,
        "setintersection",
        vec![Any],
        Any,
        collections::setintersection,
    );
    v(ctx, "setunion", vec![], Any, collections::setunion);
    v(ctx, "setproduct", vec![], Any, collections::setproduct);
    f(ctx, "zipmap", vec![Any, Any], collections::zipmap);
    // Numbers.
    f(ctx, "abs", vec![Number], numeric::abs);
    f(ctx, "ceil", vec![Number], numeric::ceil);
    f(ctx, "floor", vec![Number], numeric::floor);
    f(ctx, "log", vec![Number, Number], numeric::log);
    f(ctx, "pow", vec![Number, Number], numeric::pow);
    f(ctx, "signum", vec![Number], numeric::signum);
    v(ctx, "max", vec![], Any, numeric::max);
    v(ctx, "min", vec![], Any, numeric::min);
    f(ctx, "parseint", vec![Any, Any], numeric::parseint);
    // Encodings and hashes.
    f(ctx, "base64encode", vec![String], encoding::base64encode);
    f(ctx, "base64decode", vec![String], encoding::base64decode);
    f(ctx, "jsonencode", vec![Any], encoding::jsonencode);
    f(ctx, "jsondecode", vec![String], encoding::jsondecode);
    f(ctx, "yamlencode", vec![Any], encoding::yamlencode);
    f(ctx, "yamldecode", vec![String], encoding::yamldecode);
    f(ctx, "csvdecode", vec![String], encoding::csvdecode);
    f(ctx, "urlencode", vec![String], encoding::urlencode);
    f(ctx, "md5", vec![String], encoding::md5);
    f(ctx, "sha1", vec![String], encoding::sha1);
    f(ctx, "sha256", vec![String], encoding::sha256);
    f(ctx, "sha512", vec![String], encoding::sha512);
    v(ctx, "bcrypt", vec![String], Any, encoding::bcrypt);
    f(
        ctx,
        "rsadecrypt",
        vec![String, String],
        encoding::rsadecrypt,
    );
    f(ctx, "uuidv5", vec![String, String], encoding::uuidv5);
    // Time.
    f(ctx, "formatdate", vec![String, String], time::formatdate);
    f(ctx, "timeadd", vec![String, String], time::timeadd);
    // Networks.
    f(ctx, "cidrhost", vec![String, Any], network::cidrhost);
    f(ctx, "cidrnetmask", vec![String], network::cidrnetmask);
    f(
        ctx,
        "cidrsubnet",
        vec![String, Any, Any],
        network::cidrsubnet,
    );
    v(ctx, "cidrsubnets", vec![String], Any, network::cidrsubnets);
    // Paths that need no file system.
    f(ctx, "basename", vec![String], strings::basename);
    f(ctx, "dirname", vec![String], strings::dirname);
    // Secret stores: reached over the network by Packer; refused with the reason.
    v(ctx, "vault", vec![], Any, host_calls::vault);
    v(ctx, "consul_key", vec![], Any, host_calls::consul_key);
    v(
        ctx,
        "aws_secretsmanager",
        vec![],
        Any,
        host_calls::aws_secretsmanager,
    );
    // Inside `for` bodies `try`/`can` cannot be evaluated ahead; these eager forms still give
    // the right value when their arguments evaluate.
    v(ctx, "try", vec![], Any, host_calls::eager_try);
    f(ctx, "can", vec![Any], host_calls::eager_can);
    let _ = (arr, obj);
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
    if n.fract() != 0.0 {
        return Err(format!("{n} is not a whole number"));
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
