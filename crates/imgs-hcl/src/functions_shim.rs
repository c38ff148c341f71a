//! Stand-in for imgs-hcl-functions while it is written: plain hcl-rs evaluation.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

pub trait Host {
    fn working_dir(&self) -> PathBuf;
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, String>;
    fn is_file(&self, path: &Path) -> Result<bool, String>;
    fn glob(&self, base: &Path, pattern: &str) -> Result<Vec<String>, String>;
    fn home_dir(&self) -> Option<PathBuf>;
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
    fn uuid_v4(&self) -> String;
}

#[derive(Debug)]
pub struct EvalError {
    pub message: String,
}
impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub fn evaluate(
    expr: &hcl::Expression,
    ctx: &hcl::eval::Context,
    _host: &dyn Host,
) -> Result<hcl::Value, EvalError> {
    use hcl::eval::Evaluate;
    expr.evaluate(ctx).map_err(|e| EvalError {
        message: e.to_string(),
    })
}

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

pub fn type_constraint(expr: &hcl::Expression) -> Result<TypeConstraint, String> {
    Ok(match expr.to_string().as_str() {
        "string" => TypeConstraint::String,
        "number" => TypeConstraint::Number,
        "bool" => TypeConstraint::Bool,
        _ => TypeConstraint::Any,
    })
}

pub fn convert(value: &hcl::Value, to: &TypeConstraint) -> Result<hcl::Value, String> {
    Ok(match (to, value) {
        (TypeConstraint::String, hcl::Value::Number(n)) => hcl::Value::String(n.to_string()),
        (TypeConstraint::String, hcl::Value::Bool(b)) => hcl::Value::String(b.to_string()),
        _ => value.clone(),
    })
}
