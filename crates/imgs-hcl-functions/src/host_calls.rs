//! Calls evaluated before hcl-rs sees the expression (see the crate docs): `try`, `can`,
//! `convert` and the functions that read the machine through the [`Host`].

use std::path::{Component, Path, PathBuf};

use hcl::eval::{Context, Evaluate, FuncArgs};
use hcl::expr::{
    BinaryOp, Conditional, Expression, ForExpr, FuncCall, Operation, TemplateExpr, Traversal,
    TraversalOperator, UnaryOp,
};
use hcl::template::{Directive, Element, Template};
use hcl::{Object, ObjectKey, Value};

use crate::{EvalError, Host, as_string, convert, type_constraint};

/// The calls this module evaluates itself.
const PREPARED: &[&str] = &[
    "try",
    "can",
    "convert",
    "file",
    "fileexists",
    "fileset",
    "abspath",
    "pathexpand",
    "timestamp",
    "uuidv4",
];

/// `expr` with every prepared call replaced by its value, innermost first. `in_for`: inside a
/// `for` body, where iteration variables are not known yet; calls there are left to hcl-rs.
pub(crate) fn prepare(
    expr: &Expression,
    ctx: &Context,
    host: &dyn Host,
    in_for: bool,
) -> Result<Expression, EvalError> {
    let again = |e: &Expression| prepare(e, ctx, host, in_for);
    Ok(match expr {
        Expression::FuncCall(call) => {
            let name = call.name.name.as_str();
            if call.name.namespace.is_empty() && PREPARED.contains(&name) && !in_for {
                return special(name, call, ctx, host).map(Expression::from);
            }
            let mut prepared = FuncCall::new(call.name.clone());
            prepared.expand_final = call.expand_final;
            for arg in &call.args {
                prepared.args.push(again(arg)?);
            }
            Expression::FuncCall(Box::new(prepared))
        }
        Expression::Array(items) => {
            Expression::Array(items.iter().map(again).collect::<Result<_, _>>()?)
        }
        Expression::Object(entries) => {
            let mut out: Object<ObjectKey, Expression> = Object::new();
            for (key, value) in entries {
                let key = match key {
                    ObjectKey::Expression(e) => ObjectKey::Expression(again(e)?),
                    other => other.clone(),
                };
                out.insert(key, again(value)?);
            }
            Expression::Object(out)
        }
        Expression::TemplateExpr(template) if mentions_prepared(&template.to_string()) => {
            let parsed =
                Template::from_expr(template).map_err(|e| EvalError::new(e.to_string()))?;
            let rewritten = prepare_template(&parsed, ctx, host, in_for)?;
            Expression::TemplateExpr(Box::new(TemplateExpr::QuotedString(rewritten.to_string())))
        }
        Expression::Traversal(traversal) => {
            let mut operators = Vec::with_capacity(traversal.operators.len());
            for op in &traversal.operators {
                operators.push(match op {
                    TraversalOperator::Index(e) => TraversalOperator::Index(again(e)?),
                    other => other.clone(),
                });
            }
            Expression::Traversal(Box::new(Traversal::new(again(&traversal.expr)?, operators)))
        }
        Expression::Parenthesis(inner) => Expression::Parenthesis(Box::new(again(inner)?)),
        Expression::Conditional(c) => Expression::Conditional(Box::new(Conditional::new(
            again(&c.cond_expr)?,
            again(&c.true_expr)?,
            again(&c.false_expr)?,
        ))),
        Expression::Operation(op) => Expression::Operation(Box::new(match op.as_ref() {
            Operation::Unary(u) => Operation::Unary(UnaryOp::new(u.operator, again(&u.expr)?)),
            Operation::Binary(b) => Operation::Binary(BinaryOp::new(
                again(&b.lhs_expr)?,
                b.operator,
                again(&b.rhs_expr)?,
            )),
        })),
        Expression::ForExpr(f) => {
            let inner = |e: &Expression| prepare(e, ctx, host, true);
            let mut out = ForExpr::new(
                f.value_var.clone(),
                again(&f.collection_expr)?,
                inner(&f.value_expr)?,
            );
            out.key_var = f.key_var.clone();
            out.key_expr = f.key_expr.as_ref().map(inner).transpose()?;
            out.cond_expr = f.cond_expr.as_ref().map(inner).transpose()?;
            out.grouping = f.grouping;
            Expression::ForExpr(Box::new(out))
        }
        other => other.clone(),
    })
}

/// Whether a template's text may hold a prepared call (a cheap test before parsing it).
fn mentions_prepared(text: &str) -> bool {
    PREPARED.iter().any(|name| {
        text.match_indices(name)
            .any(|(at, _)| text[at + name.len()..].trim_start().starts_with('('))
    })
}

fn prepare_template(
    template: &Template,
    ctx: &Context,
    host: &dyn Host,
    in_for: bool,
) -> Result<Template, EvalError> {
    let mut out = Template::new();
    for element in template.elements() {
        let element = match element {
            Element::Interpolation(i) => {
                let mut i = i.clone();
                i.expr = prepare(&i.expr, ctx, host, in_for)?;
                Element::Interpolation(i)
            }
            Element::Directive(directive) => {
                Element::Directive(Box::new(match directive.as_ref() {
                    Directive::If(d) => {
                        let mut d = d.clone();
                        d.cond_expr = prepare(&d.cond_expr, ctx, host, in_for)?;
                        d.true_template = prepare_template(&d.true_template, ctx, host, in_for)?;
                        if let Some(f) = &d.false_template {
                            d.false_template = Some(prepare_template(f, ctx, host, in_for)?);
                        }
                        Directive::If(d)
                    }
                    Directive::For(d) => {
                        let mut d = d.clone();
                        d.collection_expr = prepare(&d.collection_expr, ctx, host, in_for)?;
                        d.template = prepare_template(&d.template, ctx, host, true)?;
                        Directive::For(d)
                    }
                }))
            }
            other => other.clone(),
        };
        out = out.add_element(element);
    }
    Ok(out)
}

fn value_of(expr: &Expression, ctx: &Context, host: &dyn Host) -> Result<Value, EvalError> {
    prepare(expr, ctx, host, false)?
        .evaluate(ctx)
        .map_err(|e| EvalError::new(crate::packer_message(&e)))
}

fn failed(name: &str, message: impl std::fmt::Display) -> EvalError {
    EvalError::new(format!("Call to function \"{name}\" failed: {message}."))
}

fn special(
    name: &str,
    call: &FuncCall,
    ctx: &Context,
    host: &dyn Host,
) -> Result<Value, EvalError> {
    let arity = |n: usize| -> Result<(), EvalError> {
        if call.args.len() == n {
            Ok(())
        } else {
            Err(EvalError::new(format!(
                "Invalid function argument count: function \"{name}\" takes {n} argument{}, not {}.",
                if n == 1 { "" } else { "s" },
                call.args.len()
            )))
        }
    };
    let string_arg = |i: usize| -> Result<String, EvalError> {
        let value = value_of(&call.args[i], ctx, host)?;
        as_string(&value).map_err(|e| failed(name, e))
    };
    match name {
        "try" => {
            if call.args.is_empty() {
                return Err(EvalError::new(
                    "Invalid function argument count: at least one argument is required.",
                ));
            }
            let mut last = None;
            for arg in &call.args {
                match value_of(arg, ctx, host) {
                    Ok(value) => return Ok(value),
                    Err(e) => last = Some(e),
                }
            }
            Err(failed(
                "try",
                format!(
                    "no expression succeeded:\n- {}\n\nAt least one expression must produce a successful result",
                    last.map(|e| e.message).unwrap_or_default()
                ),
            ))
        }
        "can" => {
            arity(1)?;
            Ok(Value::Bool(value_of(&call.args[0], ctx, host).is_ok()))
        }
        "convert" => {
            arity(2)?;
            let value = value_of(&call.args[0], ctx, host)?;
            let ty = type_constraint(&call.args[1]).map_err(|e| failed(name, e))?;
            convert(&value, &ty).map_err(|e| failed(name, e))
        }
        "timestamp" => {
            arity(0)?;
            Ok(Value::String(crate::time::rfc3339(host.now())))
        }
        "uuidv4" => {
            arity(0)?;
            Ok(Value::String(host.uuid_v4()))
        }
        "file" => {
            arity(1)?;
            let path = in_base_dir(&string_arg(0)?, host);
            let bytes = host.read_file(&path).map_err(|e| {
                failed(
                    name,
                    format!("no file exists at {}; this function works only with files that are distributed as part of the configuration source code ({e})", path.display()),
                )
            })?;
            String::from_utf8(bytes).map(Value::String).map_err(|_| {
                failed(
                    name,
                    format!("contents of {} are not valid UTF-8; use the filebase64 function to obtain the Base64 encoded contents or the other file functions (e.g. filemd5, filesha256) to obtain file hashing results instead", path.display()),
                )
            })
        }
        "fileexists" => {
            arity(1)?;
            let path = in_base_dir(&string_arg(0)?, host);
            host.is_file(&path)
                .map(Value::Bool)
                .map_err(|e| failed(name, e))
        }
        "fileset" => {
            arity(2)?;
            let base = in_base_dir(&string_arg(0)?, host);
            let pattern = string_arg(1)?;
            let mut found = host.glob(&base, &pattern).map_err(|e| failed(name, e))?;
            found.sort();
            found.dedup();
            Ok(Value::Array(found.into_iter().map(Value::String).collect()))
        }
        "abspath" => {
            arity(1)?;
            let path = resolve(&string_arg(0)?, host);
            Ok(Value::String(
                clean(&path).to_string_lossy().replace('\\', "/"),
            ))
        }
        "pathexpand" => {
            arity(1)?;
            let path = string_arg(0)?;
            let expanded = match (path.strip_prefix('~'), host.home_dir()) {
                (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                    format!("{}{rest}", home.to_string_lossy())
                }
                _ => path,
            };
            Ok(Value::String(expanded))
        }
        _ => Err(EvalError::new(format!("no function named \"{name}\""))),
    }
}

/// A path argument of the file functions, against the configuration's directory.
fn in_base_dir(path: &str, host: &dyn Host) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        host.base_dir().join(path)
    }
}

/// A path argument against the working directory, as Go resolves a relative path.
fn resolve(path: &str, host: &dyn Host) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        host.working_dir().join(path)
    }
}

/// Go's `filepath.Clean` on an absolute path: `.` and `..` resolved lexically.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `try` inside a `for` body, where its arguments are evaluated before the call: the first
/// non-null value.
pub(crate) fn eager_try(args: FuncArgs) -> Result<Value, String> {
    args.iter()
        .find(|v| !v.is_null())
        .cloned()
        .ok_or_else(|| "no expression succeeded".to_string())
}

/// `can` inside a `for` body: its argument evaluated, so it can.
pub(crate) fn eager_can(_: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(true))
}

fn secret_store(name: &str, service: &str) -> String {
    format!(
        "function \"{name}\" reads from {service} while the configuration is read; imgs does not reach {service}: pass the value as a sensitive variable (`-var`, a var file or PKR_VAR_<name>) instead"
    )
}

pub(crate) fn vault(_: FuncArgs) -> Result<Value, String> {
    Err(secret_store("vault", "Vault"))
}

pub(crate) fn consul_key(_: FuncArgs) -> Result<Value, String> {
    Err(secret_store("consul_key", "Consul"))
}

pub(crate) fn aws_secretsmanager(_: FuncArgs) -> Result<Value, String> {
    Err(secret_store("aws_secretsmanager", "AWS Secrets Manager"))
}
