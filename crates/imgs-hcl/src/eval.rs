//! What an expression can read while a configuration is lowered, and evaluating it.

use hcl::Value;
use indexmap::IndexMap;

use crate::functions::{self, Host};

/// The named values in scope: `var`, `local`, `path`, `packer`, and in provisioners and
/// post-processors `source` and `build`; `extra` holds a `dynamic` block's iterator.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
    pub vars: IndexMap<String, Value>,
    pub locals: IndexMap<String, Value>,
    pub path_cwd: String,
    pub path_root: String,
    pub source: Option<(String, String)>,
    pub build_name: Option<String>,
    pub extra: Vec<(String, Value)>,
}

/// The build values a provisioner may read (`build.ID`, `build.Host`, …) are only known once the
/// machine runs; they are lowered to Packer's `{{ build }}` template calls, which the provisioner
/// renders at that point, as a JSON template would have written them.
const BUILD_FIELDS: &[&str] = &[
    "ID",
    "Host",
    "Port",
    "User",
    "Password",
    "ConnType",
    "PackerRunUUID",
    "PackerHTTPAddr",
    "PackerHTTPIP",
    "PackerHTTPPort",
    "SSHPublicKey",
    "SSHPrivateKey",
    "WinRMPassword",
    "SourceAMI",
    "SourceAMIName",
];

impl Scope {
    fn context(&self, expr: &hcl::Expression) -> hcl::eval::Context<'static> {
        // The function set is only needed by hcl-rs for calls inside a `%{for}` directive (the
        // functions crate evaluates every other call itself); cloning it for every expression was
        // a fifth of `imgs plan` on an HCL2 workspace.
        let mut ctx = if has_template_directive(expr) {
            functions::context()
        } else {
            hcl::eval::Context::new()
        };
        ctx.declare_var("var", object(&self.vars));
        ctx.declare_var("local", object(&self.locals));
        let mut path = hcl::Map::new();
        path.insert("cwd".to_string(), Value::String(self.path_cwd.clone()));
        path.insert("root".to_string(), Value::String(self.path_root.clone()));
        ctx.declare_var("path", Value::Object(path));
        let mut packer = hcl::Map::new();
        packer.insert("version".to_string(), Value::String("1.6.6".to_string()));
        ctx.declare_var("packer", Value::Object(packer));
        if let Some((kind, name)) = &self.source {
            let mut source = hcl::Map::new();
            source.insert("type".to_string(), Value::String(kind.clone()));
            source.insert("name".to_string(), Value::String(name.clone()));
            ctx.declare_var("source", Value::Object(source));
        }
        if let Some(name) = &self.build_name {
            let mut build = hcl::Map::new();
            build.insert("name".to_string(), Value::String(name.clone()));
            for field in BUILD_FIELDS {
                build.insert(
                    (*field).to_string(),
                    Value::String(format!("{{{{ build `{field}` }}}}")),
                );
            }
            ctx.declare_var("build", Value::Object(build));
        }
        for (name, value) in &self.extra {
            ctx.declare_var(name.clone(), value.clone());
        }
        ctx
    }

    pub(crate) fn evaluate(
        &self,
        expr: &hcl::Expression,
        host: &dyn Host,
    ) -> Result<Value, String> {
        let ctx = self.context(expr);
        functions::evaluate(expr, &ctx, host).map_err(|e| e.to_string())
    }
}

/// Whether `expr` holds a string template with a `%{…}` directive anywhere.
fn has_template_directive(expr: &hcl::Expression) -> bool {
    use hcl::Expression as E;
    match expr {
        E::TemplateExpr(t) => t.to_string().contains("%{"),
        E::Array(items) => items.iter().any(has_template_directive),
        E::Object(entries) => entries.iter().any(|(k, v)| {
            matches!(k, hcl::ObjectKey::Expression(e) if has_template_directive(e))
                || has_template_directive(v)
        }),
        E::FuncCall(call) => call.args.iter().any(has_template_directive),
        E::Parenthesis(inner) => has_template_directive(inner),
        E::Conditional(c) => [&c.cond_expr, &c.true_expr, &c.false_expr]
            .into_iter()
            .any(has_template_directive),
        E::Operation(op) => match op.as_ref() {
            hcl::expr::Operation::Unary(u) => has_template_directive(&u.expr),
            hcl::expr::Operation::Binary(b) => {
                has_template_directive(&b.lhs_expr) || has_template_directive(&b.rhs_expr)
            }
        },
        E::ForExpr(f) => {
            has_template_directive(&f.collection_expr)
                || has_template_directive(&f.value_expr)
                || f.key_expr.as_ref().is_some_and(has_template_directive)
                || f.cond_expr.as_ref().is_some_and(has_template_directive)
        }
        E::Traversal(t) => {
            has_template_directive(&t.expr)
                || t.operators.iter().any(|op| {
                    matches!(op, hcl::expr::TraversalOperator::Index(e) if has_template_directive(e))
                })
        }
        _ => false,
    }
}

fn object(values: &IndexMap<String, Value>) -> Value {
    Value::Object(values.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// The `ROOT.ATTR` references an expression makes (`var.name`, `local.x`, …), read from its
/// canonical text: enough to tell what a validation condition reads.
pub(crate) fn variables_read(expr: &hcl::Expression) -> Vec<(String, Option<String>)> {
    let text = expr.to_string();
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'"' && (i == 0 || bytes[i - 1] != b'\\') {
            in_string = !in_string;
        }
        let starts_word = !in_string && (i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b'.');
        if starts_word && (c.is_ascii_alphabetic() || c == b'_') {
            let start = i;
            while i < bytes.len() && is_ident(bytes[i]) {
                i += 1;
            }
            let root = &text[start..i];
            if i < bytes.len() && bytes[i] == b'(' {
                continue;
            }
            if matches!(
                root,
                "var" | "local" | "source" | "build" | "path" | "packer"
            ) {
                let attr = if bytes.get(i) == Some(&b'.') {
                    let a = i + 1;
                    let mut e = a;
                    while e < bytes.len() && is_ident(bytes[e]) {
                        e += 1;
                    }
                    Some(text[a..e].to_string())
                } else {
                    None
                };
                out.push((root.to_string(), attr));
            }
            continue;
        }
        i += 1;
    }
    out
}

/// A value as its string form for places that hold strings (variable values shown by `inspect`,
/// given to plugins as user variables): strings as they are, everything else as JSON.
pub(crate) fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// `path.cwd` / `path.root` as Packer gives them: slashes only.
pub(crate) fn slash(path: &std::path::Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}
