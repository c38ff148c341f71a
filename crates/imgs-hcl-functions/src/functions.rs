//! The table of Packer 1.6.6's functions: each one's parameters (names as Packer's messages name
//! them, and the type cty converts each argument to) and its implementation, and the call that
//! checks arguments as cty does before calling it.

use hcl::Value;
use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};

use crate::types::{TypeConstraint, convert};
use crate::{EvalError, Host, collections, encoding, host_calls, network, numeric, strings, time};

/// What an argument is converted to before the implementation sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string (numbers and bools convert); not null.
    Str,
    /// A number (strings holding one convert); not null.
    Num,
    /// Any value but null.
    Any,
    /// Any value, null included.
    AnyOrNull,
    /// A list of strings (every element converted), as `join`, `sort` and `compact` take.
    StrList,
}

pub(crate) enum Imp {
    Pure(fn(&[Value]) -> Result<Value, String>),
    WithHost(fn(&[Value], &dyn Host) -> Result<Value, String>),
    /// `try`, `can` and `convert`: they see their argument expressions, not values.
    Lazy,
}

pub(crate) struct Spec {
    pub(crate) name: &'static str,
    pub(crate) params: &'static [(&'static str, Kind)],
    pub(crate) variadic: Option<(&'static str, Kind)>,
    pub(crate) imp: Imp,
}

/// One row per function: `name [param: Kind, ...] (...variadic: Kind)? => implementation`.
/// The macro also declares each function to hcl-rs for the one place this crate leaves calls to
/// it (see [`declare_for_templates`]); a closure naming its function by a literal captures
/// nothing, so it is the plain `fn` pointer hcl-rs requires.
macro_rules! functions {
    ($( $name:literal [$($param:literal : $kind:ident),*] $(... $vname:literal : $vkind:ident)? => $imp:expr ;)*) => {
        pub(crate) static SPECS: &[Spec] = &[
            $(Spec {
                name: $name,
                params: &[$(($param, Kind::$kind)),*],
                variadic: functions!(@variadic $($vname $vkind)?),
                imp: $imp,
            },)*
        ];

        /// Every function declared to hcl-rs, for calls inside `%{for}` template directives.
        pub(crate) fn declare_for_templates(ctx: &mut Context) {
            $(ctx.declare_func(
                $name,
                FuncDef::builder()
                    .variadic_param(ParamType::Any)
                    .build(|args: FuncArgs| call_in_template($name, args.into_values())),
            );)*
        }
    };
    (@variadic) => { None };
    (@variadic $vname:literal $vkind:ident) => { Some(($vname, Kind::$vkind)) };
}

use Imp::{Lazy, Pure, WithHost};

functions! {
    "abs" ["num": Num] => Pure(numeric::abs);
    "abspath" ["path": Str] => WithHost(host_calls::abspath);
    "aws_secretsmanager" ["name": Str, "key": Str] => Pure(host_calls::aws_secretsmanager);
    "basename" ["path": Str] => Pure(strings::basename);
    "base64decode" ["str": Str] => Pure(encoding::base64decode);
    "base64encode" ["str": Str] => Pure(encoding::base64encode);
    "bcrypt" ["str": Str] ... "cost": Num => Pure(encoding::bcrypt);
    "can" ["expression": AnyOrNull] => Lazy;
    "ceil" ["num": Num] => Pure(numeric::ceil);
    "chomp" ["str": Str] => Pure(strings::chomp);
    "chunklist" ["list": Any, "size": Num] => Pure(collections::chunklist);
    "cidrhost" ["prefix": Str, "hostnum": Num] => Pure(network::cidrhost);
    "cidrnetmask" ["prefix": Str] => Pure(network::cidrnetmask);
    "cidrsubnet" ["prefix": Str, "newbits": Num, "netnum": Num] => Pure(network::cidrsubnet);
    "cidrsubnets" ["prefix": Str] ... "newbits": Num => Pure(network::cidrsubnets);
    "coalesce" [] ... "vals": AnyOrNull => Pure(collections::coalesce);
    "coalescelist" [] ... "vals": AnyOrNull => Pure(collections::coalescelist);
    "compact" ["list": StrList] => Pure(collections::compact);
    "concat" [] ... "seqs": Any => Pure(collections::concat);
    "consul_key" ["key": Str] => Pure(host_calls::consul_key);
    "contains" ["list": Any, "value": Any] => Pure(collections::contains);
    "convert" ["value": AnyOrNull, "type": AnyOrNull] => Lazy;
    "csvdecode" ["str": Str] => Pure(encoding::csvdecode);
    "dirname" ["path": Str] => Pure(strings::dirname);
    "distinct" ["list": Any] => Pure(collections::distinct);
    "element" ["list": Any, "index": Num] => Pure(collections::element);
    "file" ["path": Str] => WithHost(host_calls::file);
    "fileexists" ["path": Str] => WithHost(host_calls::fileexists);
    "fileset" ["path": Str, "pattern": Str] => WithHost(host_calls::fileset);
    "flatten" ["list": Any] => Pure(collections::flatten);
    "floor" ["num": Num] => Pure(numeric::floor);
    "format" ["format": Str] ... "args": AnyOrNull => Pure(strings::format);
    "formatdate" ["format": Str, "time": Str] => Pure(time::formatdate);
    "formatlist" ["format": Str] ... "args": AnyOrNull => Pure(strings::formatlist);
    "indent" ["spaces": Num, "str": Str] => Pure(strings::indent);
    "index" ["list": Any, "key": Any] => Pure(collections::index);
    "join" ["separator": Str] ... "lists": StrList => Pure(strings::join);
    "jsondecode" ["str": Str] => Pure(encoding::jsondecode);
    "jsonencode" ["val": Any] => Pure(encoding::jsonencode);
    "keys" ["inputMap": Any] => Pure(collections::keys);
    "length" ["value": Any] => Pure(collections::length);
    "log" ["num": Num, "base": Num] => Pure(numeric::log);
    "lookup" ["inputMap": Any, "key": Str, "default": Any] => Pure(collections::lookup);
    "lower" ["str": Str] => Pure(strings::lower);
    "max" [] ... "numbers": Num => Pure(numeric::max);
    "md5" ["str": Str] => Pure(encoding::md5);
    "merge" [] ... "maps": AnyOrNull => Pure(collections::merge);
    "min" [] ... "numbers": Num => Pure(numeric::min);
    "parseint" ["number": Any, "base": Num] => Pure(numeric::parseint);
    "pathexpand" ["path": Str] => WithHost(host_calls::pathexpand);
    "pow" ["num": Num, "power": Num] => Pure(numeric::pow);
    "range" [] ... "params": Num => Pure(collections::range);
    "regex_replace" ["str": Str, "substr": Str, "replace": Str] => Pure(strings::regex_replace);
    "replace" ["str": Str, "substr": Str, "replace": Str] => Pure(strings::replace);
    "reverse" ["list": Any] => Pure(collections::reverse);
    "rsadecrypt" ["ciphertext": Str, "privatekey": Str] => Pure(encoding::rsadecrypt);
    "setintersection" ["first_set": Any] ... "other_sets": Any => Pure(collections::setintersection);
    "setproduct" [] ... "sets": Any => Pure(collections::setproduct);
    "setunion" ["first_set": Any] ... "other_sets": Any => Pure(collections::setunion);
    "sha1" ["str": Str] => Pure(encoding::sha1);
    "sha256" ["str": Str] => Pure(encoding::sha256);
    "sha512" ["str": Str] => Pure(encoding::sha512);
    "signum" ["num": Num] => Pure(numeric::signum);
    "slice" ["list": Any, "start_index": Num, "end_index": Num] => Pure(collections::slice);
    "sort" ["list": StrList] => Pure(collections::sort);
    "split" ["separator": Str, "str": Str] => Pure(strings::split);
    "strrev" ["str": Str] => Pure(strings::strrev);
    "substr" ["str": Str, "offset": Num, "length": Num] => Pure(strings::substr);
    "timeadd" ["timestamp": Str, "duration": Str] => Pure(time::timeadd);
    "timestamp" [] => WithHost(host_calls::timestamp);
    "title" ["str": Str] => Pure(strings::title);
    "trim" ["str": Str, "cutset": Str] => Pure(strings::trim);
    "trimprefix" ["str": Str, "prefix": Str] => Pure(strings::trimprefix);
    "trimspace" ["str": Str] => Pure(strings::trimspace);
    "trimsuffix" ["str": Str, "suffix": Str] => Pure(strings::trimsuffix);
    "try" [] ... "expressions": AnyOrNull => Lazy;
    "upper" ["str": Str] => Pure(strings::upper);
    "urlencode" ["str": Str] => Pure(encoding::urlencode);
    "uuidv4" [] => WithHost(host_calls::uuidv4);
    "uuidv5" ["namespace": Str, "name": Str] => Pure(encoding::uuidv5);
    "values" ["values": Any] => Pure(collections::values);
    "vault" ["path": Str, "key": Str] => Pure(host_calls::vault);
    "yamldecode" ["src": Str] => Pure(encoding::yamldecode);
    "yamlencode" ["value": AnyOrNull] => Pure(encoding::yamlencode);
    "zipmap" ["keys": Any, "values": Any] => Pure(collections::zipmap);
}

pub(crate) fn spec(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

pub(crate) fn unknown_function(name: &str) -> EvalError {
    EvalError::new(format!(
        "Call to unknown function; There is no function named \"{name}\"."
    ))
}

/// The argument count checked as hcl's function calls check it.
pub(crate) fn check_arity(spec: &Spec, given: usize) -> Result<(), EvalError> {
    let name = spec.name;
    let required = spec.params.len();
    if given < required {
        let at_least = if spec.variadic.is_some() {
            "at least "
        } else {
            ""
        };
        return Err(EvalError::new(format!(
            "Not enough function arguments; Function \"{name}\" expects {at_least}{required} argument(s). Missing value for \"{}\".",
            spec.params[given].0
        )));
    }
    if given > required && spec.variadic.is_none() {
        return Err(EvalError::new(format!(
            "Too many function arguments; Function \"{name}\" expects only {required} argument(s)."
        )));
    }
    Ok(())
}

/// The name of the parameter argument `index` goes to.
fn param_name(spec: &Spec, index: usize) -> &'static str {
    spec.params
        .get(index)
        .map(|p| p.0)
        .or(spec.variadic.map(|v| v.0))
        .unwrap_or("args")
}

fn param_kind(spec: &Spec, index: usize) -> Kind {
    spec.params
        .get(index)
        .map(|p| p.1)
        .or(spec.variadic.map(|v| v.1))
        .unwrap_or(Kind::AnyOrNull)
}

pub(crate) fn invalid_argument(spec: &Spec, index: usize, message: &str) -> EvalError {
    EvalError::new(format!(
        "Invalid function argument; Invalid value for \"{}\" parameter: {message}.",
        param_name(spec, index)
    ))
}

pub(crate) fn call_failed(name: &str, message: &str) -> EvalError {
    EvalError::new(format!(
        "Error in function call; Call to function \"{name}\" failed: {message}."
    ))
}

/// An argument converted to its parameter's type, as cty converts it before the call.
fn convert_argument(value: Value, kind: Kind) -> Result<Value, String> {
    if value.is_null() {
        return if kind == Kind::AnyOrNull {
            Ok(value)
        } else {
            Err("argument must not be null".to_string())
        };
    }
    match kind {
        Kind::Any | Kind::AnyOrNull => Ok(value),
        Kind::Str => convert(&value, &TypeConstraint::String),
        Kind::Num => convert(&value, &TypeConstraint::Number),
        Kind::StrList => match value {
            Value::Array(_) => convert(
                &value,
                &TypeConstraint::List(Box::new(TypeConstraint::String)),
            ),
            _ => Err("list of string required".to_string()),
        },
    }
}

/// Call a function (not a lazy one) on evaluated arguments.
pub(crate) fn call(
    spec: &Spec,
    args: Vec<Value>,
    host: Option<&dyn Host>,
) -> Result<Value, EvalError> {
    check_arity(spec, args.len())?;
    let mut converted = Vec::with_capacity(args.len());
    for (i, arg) in args.into_iter().enumerate() {
        converted.push(
            convert_argument(arg, param_kind(spec, i))
                .map_err(|e| invalid_argument(spec, i, &e))?,
        );
    }
    let result = match &spec.imp {
        Imp::Pure(f) => f(&converted),
        Imp::WithHost(f) => match host {
            Some(host) => f(&converted, host),
            None => Err(format!(
                "{} cannot be called inside a %{{for}} template directive by imgs",
                spec.name
            )),
        },
        Imp::Lazy => Err(format!(
            "{} cannot be called inside a %{{for}} template directive by imgs",
            spec.name
        )),
    };
    result.map_err(|message| match crate::split_arg_error(&message) {
        Some((index, detail)) => invalid_argument(spec, index, detail),
        None => call_failed(spec.name, &message),
    })
}

/// hcl-rs's view of a call inside a `%{for}` directive: no host, and the message as one string.
fn call_in_template(name: &str, args: Vec<Value>) -> Result<Value, String> {
    let spec = spec(name).ok_or_else(|| unknown_function(name).message)?;
    call(spec, args, None).map_err(|e| e.message)
}
