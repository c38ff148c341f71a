//! The walk that evaluates every function call (and `for` expression) of an expression before
//! hcl-rs evaluates the rest, the lazy calls (`try`, `can`, `convert`) and the functions that go
//! through the [`Host`].

use std::path::{Component, Path, PathBuf};

use hcl::eval::{Context, Evaluate};
use hcl::expr::{
    BinaryOp, Conditional, Expression, ForExpr, FuncCall, Operation, TemplateExpr, Traversal,
    TraversalOperator, UnaryOp,
};
use hcl::template::{Directive, Element, Template};
use hcl::{Map, Object, ObjectKey, Value};

use crate::functions::{self, Imp, call_failed, check_arity, invalid_argument};
use crate::{EvalError, Host, convert, type_constraint};

/// The value of `expr`: its calls and `for` expressions evaluated here, the rest by hcl-rs.
pub(crate) fn value_of(
    expr: &Expression,
    ctx: &Context,
    host: &dyn Host,
) -> Result<Value, EvalError> {
    prepare(expr, ctx, host)?
        .evaluate(ctx)
        .map_err(|e| EvalError::new(crate::packer_message(&e)))
}

/// `expr` with every function call and `for` expression replaced by its value, innermost first.
/// The operands of `&&`, `||` and `? :` are evaluated here too only as far as hcl-rs would.
fn prepare(expr: &Expression, ctx: &Context, host: &dyn Host) -> Result<Expression, EvalError> {
    let again = |e: &Expression| prepare(e, ctx, host);
    Ok(match expr {
        Expression::FuncCall(call) => Expression::from(call_value(call, ctx, host)?),
        Expression::ForExpr(for_expr) => Expression::from(for_value(for_expr, ctx, host)?),
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
        Expression::TemplateExpr(template) => {
            let parsed =
                Template::from_expr(template).map_err(|e| EvalError::new(e.to_string()))?;
            let rewritten = prepare_template(&parsed, ctx, host)?;
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
        Expression::Conditional(c) => {
            // Only the branch the condition picks is evaluated (the other may fail).
            let cond = value_of(&c.cond_expr, ctx, host)?;
            match cond {
                Value::Bool(true) => again(&c.true_expr)?,
                Value::Bool(false) => again(&c.false_expr)?,
                other => Expression::Conditional(Box::new(Conditional::new(
                    Expression::from(other),
                    again(&c.true_expr)?,
                    again(&c.false_expr)?,
                ))),
            }
        }
        Expression::Operation(op) if arithmetic(op) => {
            Expression::from(arithmetic_value(op, ctx, host)?)
        }
        Expression::Operation(op) => Expression::Operation(Box::new(match op.as_ref() {
            Operation::Unary(u) => Operation::Unary(UnaryOp::new(u.operator, again(&u.expr)?)),
            Operation::Binary(b) => Operation::Binary(BinaryOp::new(
                again(&b.lhs_expr)?,
                b.operator,
                again(&b.rhs_expr)?,
            )),
        })),
        other => other.clone(),
    })
}

/// A template with the expressions of its interpolations and `%{if}` conditions prepared. The
/// bodies of `%{for}` directives are left to hcl-rs (their iteration variables are bound there), so
/// calls in them go through the functions declared by [`crate::context`], without the host.
fn prepare_template(
    template: &Template,
    ctx: &Context,
    host: &dyn Host,
) -> Result<Template, EvalError> {
    let mut out = Template::new();
    for element in template.elements() {
        let element = match element {
            Element::Interpolation(i) => {
                let mut i = i.clone();
                i.expr = prepare(&i.expr, ctx, host)?;
                Element::Interpolation(i)
            }
            Element::Directive(directive) => {
                Element::Directive(Box::new(match directive.as_ref() {
                    Directive::If(d) => {
                        let mut d = d.clone();
                        d.cond_expr = prepare(&d.cond_expr, ctx, host)?;
                        d.true_template = prepare_template(&d.true_template, ctx, host)?;
                        if let Some(f) = &d.false_template {
                            d.false_template = Some(prepare_template(f, ctx, host)?);
                        }
                        Directive::If(d)
                    }
                    Directive::For(d) => {
                        let mut d = d.clone();
                        d.collection_expr = prepare(&d.collection_expr, ctx, host)?;
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

/// A `for` expression's value, its body evaluated once per element with the iteration variables
/// declared (in a copy of the context: hcl-rs offers no child scope from outside).
fn for_value(f: &ForExpr, ctx: &Context, host: &dyn Host) -> Result<Value, EvalError> {
    let collection = value_of(&f.collection_expr, ctx, host)?;
    let pairs: Vec<(Value, Value)> = match collection {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (crate::number(i as f64), v))
            .collect(),
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries
                .into_iter()
                .map(|(k, v)| (Value::String(k), v))
                .collect()
        }
        other => {
            return Err(EvalError::new(format!(
                "Iteration over non-iterable value; A value of type {} cannot be used as the collection in a 'for' expression.",
                type_name(&other)
            )));
        }
    };
    let mut list = Vec::new();
    let mut object: Map<String, Value> = Map::new();
    let mut grouped: Map<String, Vec<Value>> = Map::new();
    for (key, value) in pairs {
        let mut scope = ctx.clone();
        let (key_value, item_value) = (key.clone(), value.clone());
        if let Some(key_var) = &f.key_var {
            scope.declare_var(key_var.clone(), key);
        }
        scope.declare_var(f.value_var.clone(), value);
        if let Some(cond) = &f.cond_expr {
            match value_of(cond, &scope, host)? {
                Value::Bool(true) => {}
                Value::Bool(false) => continue,
                _ => {
                    return Err(EvalError::new(
                        "Invalid 'for' condition; The 'if' clause value is invalid: a bool is required.",
                    ));
                }
            }
        }
        let item = value_of(&f.value_expr, &scope, host)?;
        match &f.key_expr {
            None => list.push(item),
            Some(key_expr) => {
                let key = match value_of(key_expr, &scope, host)? {
                    Value::String(s) => s,
                    Value::Number(n) => crate::types::shortest(n.as_f64().unwrap_or(0.0)),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(EvalError::new(
                            "Invalid object key; The key expression produced an invalid result: string required.",
                        ));
                    }
                };
                if f.grouping {
                    grouped.entry(key).or_default().push(item);
                } else if object.contains_key(&key) {
                    // Packer names the iteration variables' values before the detail.
                    let with = match &f.key_var {
                        Some(k) => format!(
                            "with {k} as {}, {} as {}",
                            go_value(&key_value),
                            f.value_var,
                            go_value(&item_value)
                        ),
                        None => format!("with {} as {}", f.value_var, go_value(&item_value)),
                    };
                    return Err(EvalError::new(format!(
                        "Duplicate object key; {with}. Two different items produced the key \"{key}\" in this 'for' expression. If duplicates are expected, use the ellipsis (...) after the value expression to enable grouping by key."
                    )));
                } else {
                    object.insert(key, item);
                }
            }
        }
    }
    Ok(match &f.key_expr {
        None => Value::Array(list),
        Some(_) if f.grouping => Value::Object(
            grouped
                .into_iter()
                .map(|(k, v)| (k, Value::Array(v)))
                .collect(),
        ),
        Some(_) => Value::Object(object),
    })
}

/// A value as Packer's diagnostics show one (strings quoted).
fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => crate::go_quote(s),
        other => crate::printable(other),
    }
}

fn arithmetic(op: &Operation) -> bool {
    use hcl::expr::BinaryOperator::{Div, Minus, Mod, Mul, Plus};
    matches!(op, Operation::Binary(b) if matches!(b.operator, Plus | Minus | Mul | Div | Mod))
}

/// `+ - * / %` over f64 here: hcl-rs's integer arithmetic panics on overflow and on division by
/// zero, and cty converts string operands to numbers.
fn arithmetic_value(op: &Operation, ctx: &Context, host: &dyn Host) -> Result<Value, EvalError> {
    use hcl::expr::BinaryOperator::{Div, Minus, Mod, Mul, Plus};
    let Operation::Binary(b) = op else {
        return Err(EvalError::new("not an arithmetic operation"));
    };
    let operand = |expr: &Expression, side: &str| -> Result<f64, EvalError> {
        let value = value_of(expr, ctx, host)?;
        convert(&value, &crate::TypeConstraint::Number)
            .and_then(|n| crate::as_f64(&n))
            .map_err(|e| {
                EvalError::new(format!(
                    "Invalid operand; Unsuitable value for {side} operand: {e}."
                ))
            })
    };
    let lhs = operand(&b.lhs_expr, "left")?;
    let rhs = operand(&b.rhs_expr, "right")?;
    let result = match b.operator {
        Plus => crate::numeric::decimal_add(lhs, rhs),
        Minus => crate::numeric::decimal_add(lhs, -rhs),
        Mul => crate::numeric::decimal_mul(lhs, rhs),
        Div => lhs / rhs,
        // cty's modulo by zero gives the dividend (`5 % 0` is 5 in Packer).
        Mod if rhs == 0.0 => lhs,
        Mod => lhs % rhs,
        _ => return Err(EvalError::new("not an arithmetic operation")),
    };
    if !result.is_finite() {
        // cty has infinities (Packer prints `+Inf`); hcl-rs values have none.
        return Err(EvalError::new(
            "Operation failed; Error during operation: the result is not a finite number, which imgs cannot represent.",
        ));
    }
    Ok(crate::number(result))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "dynamic",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "tuple",
        Value::Object(_) => "object",
    }
}

fn call_value(call: &FuncCall, ctx: &Context, host: &dyn Host) -> Result<Value, EvalError> {
    let name = call.name.name.as_str();
    let spec = match functions::spec(name) {
        Some(spec) if call.name.namespace.is_empty() => spec,
        _ => return Err(functions::unknown_function(&call.name.to_string())),
    };
    if let Imp::Lazy = spec.imp {
        return lazy_call(spec, call, ctx, host);
    }
    let mut args = Vec::with_capacity(call.args.len());
    for arg in &call.args {
        args.push(value_of(arg, ctx, host)?);
    }
    if call.expand_final {
        // `f(a, list...)`: the last argument's elements are the final arguments.
        match args.pop() {
            Some(Value::Array(items)) => args.extend(items),
            _ => {
                return Err(EvalError::new(
                    "Invalid expanding argument value; The expanding argument (indicated by ...) must be of a tuple, list, or set type.",
                ));
            }
        }
    }
    functions::call(spec, args, Some(host))
}

fn lazy_call(
    spec: &functions::Spec,
    call: &FuncCall,
    ctx: &Context,
    host: &dyn Host,
) -> Result<Value, EvalError> {
    check_arity(spec, call.args.len())?;
    match spec.name {
        "try" => {
            if call.args.is_empty() {
                return Err(call_failed("try", "at least one argument is required"));
            }
            let mut errors = Vec::new();
            for arg in &call.args {
                match value_of(arg, ctx, host) {
                    Ok(value) => return Ok(value),
                    Err(e) => errors.push(e.message),
                }
            }
            // Packer lists each error with its source position, which this crate has not.
            let listed: String = errors.iter().map(|e| format!("\n- {e}")).collect();
            Err(call_failed(
                "try",
                &format!(
                    "no expression succeeded:{listed}\n\nAt least one expression must produce a successful result"
                ),
            ))
        }
        "can" => Ok(Value::Bool(value_of(&call.args[0], ctx, host).is_ok())),
        "convert" => {
            let value = value_of(&call.args[0], ctx, host)?;
            let ty = type_constraint(&call.args[1])
                .map_err(|e| EvalError::new(format!("Invalid type specification; {e}")))?;
            convert(&value, &ty).map_err(|e| invalid_argument(spec, 0, &e))
        }
        other => Err(functions::unknown_function(other)),
    }
}

fn string(args: &[Value], i: usize) -> String {
    crate::as_string(&args[i]).unwrap_or_default()
}

pub(crate) fn timestamp(_: &[Value], host: &dyn Host) -> Result<Value, String> {
    Ok(Value::String(crate::time::rfc3339(host.now())))
}

pub(crate) fn uuidv4(_: &[Value], host: &dyn Host) -> Result<Value, String> {
    Ok(Value::String(host.uuid_v4()))
}

pub(crate) fn file(args: &[Value], host: &dyn Host) -> Result<Value, String> {
    let given = string(args, 0);
    let path = in_base_dir(&given, host);
    let bytes = host
        .read_file(&path)
        .map_err(|_| format!("no file exists at {given}"))?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        format!("contents of {given} are not valid UTF-8; use the filebase64 function to obtain the Base64 encoded contents or the other file functions (e.g. filemd5, filesha256) to obtain file hashing results instead")
    })
}

pub(crate) fn fileexists(args: &[Value], host: &dyn Host) -> Result<Value, String> {
    let path = in_base_dir(&string(args, 0), host);
    host.is_file(&path).map(Value::Bool)
}

pub(crate) fn fileset(args: &[Value], host: &dyn Host) -> Result<Value, String> {
    let base = in_base_dir(&string(args, 0), host);
    let mut found = host.glob(&base, &string(args, 1))?;
    found.sort();
    found.dedup();
    Ok(Value::Array(found.into_iter().map(Value::String).collect()))
}

pub(crate) fn abspath(args: &[Value], host: &dyn Host) -> Result<Value, String> {
    let path = resolve(&string(args, 0), host);
    Ok(Value::String(
        clean(&path).to_string_lossy().replace('\\', "/"),
    ))
}

/// `~` or `~/…` with the home directory; other paths as they are.
pub(crate) fn pathexpand(args: &[Value], host: &dyn Host) -> Result<Value, String> {
    let path = string(args, 0);
    let Some(rest) = path.strip_prefix('~') else {
        return Ok(Value::String(path));
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Ok(Value::String(path));
    }
    let home = host
        .home_dir()
        .ok_or_else(|| "cannot expand ~: no home directory".to_string())?;
    Ok(Value::String(format!("{}{rest}", home.to_string_lossy())))
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

fn secret_store(name: &str, service: &str) -> String {
    format!(
        "function \"{name}\" reads from {service} while the configuration is read; imgs does not reach {service}: pass the value as a sensitive variable (`-var`, a var file or PKR_VAR_<name>) instead"
    )
}

pub(crate) fn vault(_: &[Value]) -> Result<Value, String> {
    Err(secret_store("vault", "Vault"))
}

pub(crate) fn consul_key(_: &[Value]) -> Result<Value, String> {
    Err(secret_store("consul_key", "Consul"))
}

pub(crate) fn aws_secretsmanager(_: &[Value]) -> Result<Value, String> {
    Err(secret_store("aws_secretsmanager", "AWS Secrets Manager"))
}
