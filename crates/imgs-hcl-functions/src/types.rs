//! Variable type constraints (`type = list(string)`) and cty's conversions to them.

use hcl::expr::{Expression, ObjectKey};
use hcl::{Map, Value};

/// A type a variable may be constrained to.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeConstraint {
    String,
    Number,
    Bool,
    Any,
    List(Box<TypeConstraint>),
    Set(Box<TypeConstraint>),
    Map(Box<TypeConstraint>),
    Tuple(Vec<TypeConstraint>),
    Object(Vec<(String, TypeConstraint)>),
}

impl TypeConstraint {
    /// The type as Packer's messages name it (`list of string`).
    pub fn describe(&self) -> String {
        match self {
            TypeConstraint::String => "string".to_string(),
            TypeConstraint::Number => "number".to_string(),
            TypeConstraint::Bool => "bool".to_string(),
            TypeConstraint::Any => "any".to_string(),
            TypeConstraint::List(t) => format!("list of {}", t.describe()),
            TypeConstraint::Set(t) => format!("set of {}", t.describe()),
            TypeConstraint::Map(t) => format!("map of {}", t.describe()),
            TypeConstraint::Tuple(_) => "tuple".to_string(),
            TypeConstraint::Object(_) => "object".to_string(),
        }
    }
}

const TYPE_HINT: &str = "A type specification is either a primitive type keyword (bool, number, string) or a complex type constructor call, like list(string).";

/// A variable block's `type` expression.
pub fn type_constraint(expr: &Expression) -> Result<TypeConstraint, String> {
    match expr {
        Expression::Variable(name) => match name.as_str() {
            "string" => Ok(TypeConstraint::String),
            "number" => Ok(TypeConstraint::Number),
            "bool" => Ok(TypeConstraint::Bool),
            "any" => Ok(TypeConstraint::Any),
            "list" => Ok(TypeConstraint::List(Box::new(TypeConstraint::Any))),
            "set" => Ok(TypeConstraint::Set(Box::new(TypeConstraint::Any))),
            "map" => Ok(TypeConstraint::Map(Box::new(TypeConstraint::Any))),
            other => Err(format!(
                "The keyword \"{other}\" is not a valid type specification."
            )),
        },
        Expression::Parenthesis(inner) => type_constraint(inner),
        Expression::FuncCall(call) => {
            let name = call.name.name.as_str();
            let one = || -> Result<Box<TypeConstraint>, String> {
                match call.args.as_slice() {
                    [arg] => Ok(Box::new(type_constraint(arg)?)),
                    _ => Err(format!(
                        "The {name} type constructor requires one argument specifying the element type."
                    )),
                }
            };
            match name {
                "list" => Ok(TypeConstraint::List(one()?)),
                "set" => Ok(TypeConstraint::Set(one()?)),
                "map" => Ok(TypeConstraint::Map(one()?)),
                "tuple" => match call.args.as_slice() {
                    [Expression::Array(items)] => Ok(TypeConstraint::Tuple(
                        items.iter().map(type_constraint).collect::<Result<_, _>>()?,
                    )),
                    _ => Err("The tuple type constructor requires a list of element types.".to_string()),
                },
                "object" => match call.args.as_slice() {
                    [Expression::Object(entries)] => {
                        let mut attrs = Vec::new();
                        for (key, value) in entries {
                            let key = match key {
                                ObjectKey::Identifier(id) => id.to_string(),
                                ObjectKey::Expression(Expression::String(s)) => s.clone(),
                                ObjectKey::Expression(Expression::Variable(v)) => v.to_string(),
                                _ => {
                                    return Err("Object constructor map keys must be attribute names.".to_string());
                                }
                            };
                            attrs.push((key, type_constraint(value)?));
                        }
                        attrs.sort_by(|a, b| a.0.cmp(&b.0));
                        Ok(TypeConstraint::Object(attrs))
                    }
                    _ => Err("The object type constructor requires one argument specifying the attribute types as a map.".to_string()),
                },
                other => Err(format!(
                    "Keyword \"{other}\" is not a valid type constructor."
                )),
            }
        }
        _ => Err(TYPE_HINT.to_string()),
    }
}

/// `value` converted to `to` as cty converts (`"12"` to a number, numbers and bools to strings,
/// tuples to lists, objects to maps); the message says what is required.
pub fn convert(value: &Value, to: &TypeConstraint) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    match to {
        TypeConstraint::Any => Ok(value.clone()),
        TypeConstraint::String => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(n) => Ok(Value::String(number_text(n))),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err("string required".to_string()),
        },
        TypeConstraint::Number => match value {
            Value::Number(_) => Ok(value.clone()),
            Value::String(s) => s
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && !s.trim().is_empty() && s.trim() == s)
                .map(crate::number)
                .ok_or_else(|| "a number is required".to_string()),
            _ => Err("number required".to_string()),
        },
        TypeConstraint::Bool => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(s) if s == "true" => Ok(Value::Bool(true)),
            Value::String(s) if s == "false" => Ok(Value::Bool(false)),
            Value::String(_) => Err("a bool is required".to_string()),
            _ => Err("bool required".to_string()),
        },
        TypeConstraint::List(element) | TypeConstraint::Set(element) => {
            let Value::Array(items) = value else {
                return Err(format!("{} required", to.describe()));
            };
            // A tuple of mixed primitives converts to a list of strings when the element type is
            // left open.
            let items = if **element == TypeConstraint::Any {
                crate::collections::unify(items)
            } else {
                items.clone()
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(convert(item, element).map_err(|e| format!("element {i}: {e}"))?);
            }
            if matches!(to, TypeConstraint::Set(_)) {
                let mut unique: Vec<Value> = Vec::new();
                for item in out {
                    if !unique.contains(&item) {
                        unique.push(item);
                    }
                }
                unique.sort_by(|a, b| match (a, b) {
                    (Value::String(x), Value::String(y)) => x.cmp(y),
                    (Value::Number(x), Value::Number(y)) => x
                        .as_f64()
                        .partial_cmp(&y.as_f64())
                        .unwrap_or(std::cmp::Ordering::Equal),
                    _ => std::cmp::Ordering::Equal,
                });
                out = unique;
            }
            Ok(Value::Array(out))
        }
        TypeConstraint::Map(element) => {
            let Value::Object(map) = value else {
                return Err(format!("{} required", to.describe()));
            };
            let values: Vec<Value> = map.values().cloned().collect();
            let values = if **element == TypeConstraint::Any {
                crate::collections::unify(&values)
            } else {
                values
            };
            let mut out: Map<String, Value> = Map::new();
            // cty names no key in a map element's conversion error.
            for (k, v) in map.keys().zip(&values) {
                out.insert(k.clone(), convert(v, element)?);
            }
            Ok(Value::Object(out))
        }
        TypeConstraint::Tuple(elements) => {
            let Value::Array(items) = value else {
                return Err("tuple required".to_string());
            };
            if items.len() != elements.len() {
                return Err("tuple required".to_string());
            }
            let out = items
                .iter()
                .zip(elements)
                .map(|(item, ty)| convert(item, ty))
                .collect::<Result<_, _>>()?;
            Ok(Value::Array(out))
        }
        TypeConstraint::Object(attrs) => {
            let Value::Object(map) = value else {
                return Err("object required".to_string());
            };
            let mut out: Map<String, Value> = Map::new();
            for (name, ty) in attrs {
                let Some(v) = map.get(name) else {
                    return Err(format!("attribute \"{name}\" is required"));
                };
                out.insert(
                    name.clone(),
                    convert(v, ty).map_err(|e| format!("attribute \"{name}\": {e}"))?,
                );
            }
            Ok(Value::Object(out))
        }
    }
}

fn number_text(n: &hcl::Number) -> String {
    match n.as_f64() {
        Some(f) => shortest(f),
        None => n.to_string(),
    }
}

/// A number as cty prints it: integers without a fraction, others in the shortest form.
pub(crate) fn shortest(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{n:.0}")
    } else {
        format!("{n}")
    }
}
