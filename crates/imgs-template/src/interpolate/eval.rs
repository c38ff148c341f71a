//! Evaluator: walks the parsed tree as Go's text/template executes it, calling Packer's functions.

use super::funcs::{self, Call, FuncError, Param};
use super::parse::{BranchKind, Command, Node, Operand, OperandKind, Pipeline};
use super::value::Value;
use super::{Context, ErrorKind, InterpolateError};

pub(super) struct Evaluator<'c, 'a> {
    pub ctx: &'c Context<'a>,
    pub env_read: Vec<String>,
    pub user_read: Vec<String>,
    variables: Vec<(String, Value<'a>)>,
}

fn error(message: impl Into<String>, offset: usize) -> InterpolateError {
    InterpolateError {
        kind: ErrorKind::Execute,
        ..InterpolateError::new(message, offset)
    }
}

impl<'c, 'a> Evaluator<'c, 'a> {
    pub(super) fn new(ctx: &'c Context<'a>) -> Self {
        let root = root_value(ctx);
        Self {
            ctx,
            env_read: Vec::new(),
            user_read: Vec::new(),
            variables: vec![("$".to_owned(), root)],
        }
    }

    pub(super) fn root(&self) -> Value<'a> {
        root_value(self.ctx)
    }

    pub(super) fn nodes(
        &mut self,
        nodes: &[Node],
        dot: &Value<'a>,
        out: &mut String,
    ) -> Result<(), InterpolateError> {
        for node in nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Action(pipeline) => {
                    let value = self.pipeline(pipeline, dot)?;
                    if pipeline.declare.is_none() {
                        value.print(out);
                    }
                }
                Node::Branch {
                    kind,
                    pipeline,
                    then,
                    otherwise,
                } => {
                    let scope = self.variables.len();
                    let value = self.pipeline(pipeline, dot)?;
                    let result = if value.is_true() {
                        let inner = if *kind == BranchKind::With {
                            value
                        } else {
                            dot.clone()
                        };
                        self.nodes(then, &inner, out)
                    } else {
                        self.nodes(otherwise, dot, out)
                    };
                    self.variables.truncate(scope);
                    result?;
                }
            }
        }
        Ok(())
    }

    fn pipeline(
        &mut self,
        pipeline: &Pipeline,
        dot: &Value<'a>,
    ) -> Result<Value<'a>, InterpolateError> {
        let mut value = None;
        for command in &pipeline.commands {
            value = Some(self.command(command, dot, value)?);
        }
        let value = value.unwrap_or(Value::Missing);
        if let Some(declaration) = &pipeline.declare {
            if declaration.is_assignment {
                if let Some(slot) = self
                    .variables
                    .iter_mut()
                    .rev()
                    .find(|(name, _)| *name == declaration.name)
                {
                    slot.1 = value.clone();
                }
            } else {
                self.variables
                    .push((declaration.name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn command(
        &mut self,
        command: &Command,
        dot: &Value<'a>,
        piped: Option<Value<'a>>,
    ) -> Result<Value<'a>, InterpolateError> {
        let first = &command.args[0];
        let has_args = command.args.len() > 1 || piped.is_some();
        match &first.kind {
            OperandKind::Function(name) => {
                self.function(name, command, &command.args[1..], dot, piped)
            }
            OperandKind::Field(fields) => self.fields(dot.clone(), fields, has_args, first.offset),
            OperandKind::Variable(name, fields) => {
                if fields.is_empty() && has_args {
                    return Err(not_a_function(first));
                }
                let value = self.variable(name);
                self.fields(value, fields, has_args, first.offset)
            }
            OperandKind::Pipeline(pipeline, fields) => {
                if fields.is_empty() && has_args {
                    return Err(not_a_function(first));
                }
                let value = self.pipeline(pipeline, dot)?;
                self.fields(value, fields, has_args, first.offset)
            }
            literal => {
                if has_args {
                    return Err(not_a_function(first));
                }
                match literal {
                    OperandKind::Dot => Ok(dot.clone()),
                    OperandKind::Nil => Err(error("nil is not a command", first.offset)),
                    _ => constant(literal, first.offset),
                }
            }
        }
    }

    fn variable(&self, name: &str) -> Value<'a> {
        self.variables
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or(Value::Missing, |(_, v)| v.clone())
    }

    /// `.A.B` on `value`; only maps have fields (Packer's data is a string map). A map inside the
    /// data (amazon-ebs's `SourceAMITags`) is flattened into it: `A.` holds how the whole map prints
    /// and `A.K` its key `K`, so `.A.K` reads the key and a key `A` lacks is `<no value>`, as Go's
    /// templates read a map.
    fn fields(
        &self,
        mut value: Value<'a>,
        fields: &[String],
        has_args: bool,
        offset: usize,
    ) -> Result<Value<'a>, InterpolateError> {
        let mut i = 0;
        while i < fields.len() {
            let field = &fields[i];
            let last = i + 1 == fields.len();
            value = match value {
                Value::Map(map) => {
                    if last && has_args {
                        return Err(error(
                            format!("{field} is not a method but has arguments"),
                            offset,
                        ));
                    }
                    match map.get(&format!("{field}.")) {
                        Some(whole) if last => Value::Str(whole.clone()),
                        Some(_) => {
                            i += 1;
                            let key = &fields[i];
                            if i + 1 == fields.len() && has_args {
                                return Err(error(
                                    format!("{key} is not a method but has arguments"),
                                    offset,
                                ));
                            }
                            map.get(&format!("{field}.{key}"))
                                .map_or(Value::Missing, |v| Value::Str(v.clone()))
                        }
                        None => map
                            .get(field)
                            .map_or(Value::Missing, |v| Value::Str(v.clone())),
                    }
                }
                Value::Missing => Value::Missing,
                other => {
                    return Err(error(
                        format!("can't evaluate field {field} in type {}", other.type_name()),
                        offset,
                    ));
                }
            };
            i += 1;
        }
        Ok(value)
    }

    fn function(
        &mut self,
        name: &str,
        command: &Command,
        args: &[Operand],
        dot: &Value<'a>,
        piped: Option<Value<'a>>,
    ) -> Result<Value<'a>, InterpolateError> {
        let offset = command.offset;
        let Some(signature) = funcs::signature(name) else {
            return Err(error(format!("function {name:?} not defined"), offset));
        };
        let given = args.len() + usize::from(piped.is_some());
        let fixed = signature.fixed.len();
        match signature.variadic {
            Some(_) if given < fixed => {
                let message =
                    format!("wrong number of args for {name}: want at least {fixed} got {given}");
                return Err(with_usage(error(message, offset), name));
            }
            None if given != fixed => {
                let message = format!("wrong number of args for {name}: want {fixed} got {given}");
                return Err(with_usage(error(message, offset), name));
            }
            _ => {}
        }
        if name == "and" || name == "or" {
            return self.short_circuit(name == "or", args, dot, piped);
        }
        let param_at = |i: usize| {
            signature
                .fixed
                .get(i)
                .copied()
                .or(signature.variadic)
                .unwrap_or(Param::Any)
        };
        let mut values = Vec::with_capacity(given);
        for (i, arg) in args.iter().enumerate() {
            let value = self.argument(arg, param_at(i), dot).map_err(|e| {
                // A problem with this argument itself (not inside it) is explained by the signature.
                if e.offset == arg.offset {
                    with_usage(e, name)
                } else {
                    e
                }
            })?;
            values.push(value);
        }
        if let Some(piped) = piped {
            let value =
                check_type(piped, param_at(given - 1), offset).map_err(|e| with_usage(e, name))?;
            values.push(value);
        }
        let call = Call {
            ctx: self.ctx,
            source: &command.source,
            env_read: &mut self.env_read,
            user_read: &mut self.user_read,
        };
        funcs::call(name, call, values).map_err(|e| call_error(name, e, offset))
    }

    /// `and`/`or` (Go 1.18+): arguments are evaluated in order until one decides the result, so
    /// `{{or (user "x") (env "Y")}}` never calls `env` when `x` is set.
    fn short_circuit(
        &mut self,
        is_or: bool,
        args: &[Operand],
        dot: &Value<'a>,
        piped: Option<Value<'a>>,
    ) -> Result<Value<'a>, InterpolateError> {
        let mut value = Value::Missing;
        for arg in args {
            value = self.argument(arg, Param::Any, dot)?;
            if value.is_true() == is_or {
                return Ok(value);
            }
        }
        Ok(piped.map_or(value, |p| {
            check_type(p, Param::Any, 0).unwrap_or(Value::Nil)
        }))
    }

    /// An argument as Go's `evalArg` converts it: constants are checked by kind, computed values by type.
    fn argument(
        &mut self,
        arg: &Operand,
        param: Param,
        dot: &Value<'a>,
    ) -> Result<Value<'a>, InterpolateError> {
        let computed = match &arg.kind {
            OperandKind::Dot => dot.clone(),
            OperandKind::Field(fields) => self.fields(dot.clone(), fields, false, arg.offset)?,
            OperandKind::Variable(name, fields) => {
                let value = self.variable(name);
                self.fields(value, fields, false, arg.offset)?
            }
            OperandKind::Pipeline(pipeline, fields) => {
                let value = self.pipeline(pipeline, dot)?;
                self.fields(value, fields, false, arg.offset)?
            }
            OperandKind::Function(name) => {
                let command = Command {
                    offset: arg.offset,
                    source: name.clone(),
                    args: vec![arg.clone()],
                };
                self.function(name, &command, &[], dot, None)?
            }
            literal => return check_literal(literal, param, arg.offset),
        };
        check_type(computed, param, arg.offset)
    }
}

fn root_value<'a>(ctx: &Context<'a>) -> Value<'a> {
    // Packer renders most strings without data; an empty map stands for that (`{{.}}` is `<no value>`).
    if ctx.data.is_empty() {
        Value::Missing
    } else {
        Value::Map(ctx.data)
    }
}

/// A literal's value as Go's idealConstant gives it.
fn constant<'a>(literal: &OperandKind, offset: usize) -> Result<Value<'a>, InterpolateError> {
    Ok(match literal {
        OperandKind::Str(s) => Value::Str(s.clone()),
        OperandKind::Bool(b) => Value::Bool(*b),
        OperandKind::Number(n) => {
            // A float spelled with `.`, an exponent or `p` stays a float even when integral.
            let lower = n.text.to_ascii_lowercase();
            let digits = lower.trim_start_matches(['+', '-']);
            let hex_int = digits.starts_with("0x") && !digits.contains('p');
            let spelled_float =
                !hex_int && !lower.starts_with('\'') && lower.contains(['.', 'e', 'p']);
            match (n.int, n.float) {
                (_, Some(f)) if spelled_float => Value::Float(f),
                (Some(i), _) => Value::Int(i),
                _ => return Err(error(format!("{} overflows int", n.text), offset)),
            }
        }
        _ => Value::Nil,
    })
}

fn literal_text(literal: &OperandKind) -> String {
    match literal {
        OperandKind::Str(s) => format!("{s:?}"),
        OperandKind::Number(n) => n.text.clone(),
        OperandKind::Bool(b) => b.to_string(),
        _ => "nil".into(),
    }
}

fn check_literal<'a>(
    literal: &OperandKind,
    param: Param,
    offset: usize,
) -> Result<Value<'a>, InterpolateError> {
    match (param, literal) {
        (Param::Any, _) => constant(literal, offset),
        (Param::Str, OperandKind::Str(s)) => Ok(Value::Str(s.clone())),
        (Param::Int, OperandKind::Number(n)) if n.int.is_some() => {
            Ok(Value::Int(n.int.unwrap_or_default()))
        }
        (_, OperandKind::Nil) => Err(error(
            format!("cannot assign nil to {}", param.go_name()),
            offset,
        )),
        (Param::Str, other) => Err(error(
            format!("expected string; found {}", literal_text(other)),
            offset,
        )),
        (Param::Int, other) => Err(error(
            format!("expected integer; found {}", literal_text(other)),
            offset,
        )),
    }
}

fn check_type(
    value: Value<'_>,
    param: Param,
    offset: usize,
) -> Result<Value<'_>, InterpolateError> {
    match (param, &value) {
        (Param::Any, Value::Missing) => Ok(Value::Nil),
        (Param::Any, _) | (Param::Str, Value::Str(_)) | (Param::Int, Value::Int(_)) => Ok(value),
        (_, Value::Missing | Value::Nil) => Err(error(
            format!("invalid value; expected {}", param.go_name()),
            offset,
        )
        .with_hint("the value is missing: check the field or variable name")),
        _ => Err(error(
            format!(
                "wrong type for value; expected {}; got {}",
                param.go_name(),
                value.type_name()
            ),
            offset,
        )),
    }
}

fn call_error(name: &str, e: FuncError, offset: usize) -> InterpolateError {
    let message = if e.standalone {
        e.message
    } else {
        format!("error calling {name}: {}", e.message)
    };
    InterpolateError {
        message,
        offset,
        hint: e.hint,
        kind: e.kind,
    }
}

fn with_usage(error: InterpolateError, name: &str) -> InterpolateError {
    match (error.hint.is_none(), funcs::usage(name)) {
        (true, Some(usage)) => error.with_hint(format!("usage: {usage}")),
        _ => error,
    }
}

fn not_a_function(operand: &Operand) -> InterpolateError {
    error(
        format!("can't give argument to non-function {}", operand.source),
        operand.offset,
    )
}
