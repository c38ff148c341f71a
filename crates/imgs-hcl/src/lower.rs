//! A configuration lowered to the template model for one invocation: variables assigned from every
//! source Packer reads, locals evaluated, and each build × source made a builder with its own
//! provisioners and post-processors (named `TYPE.NAME`, or `BUILD.TYPE.NAME` in a named build, as
//! Packer names HCL2 builds).

use std::sync::Arc;

use hcl::Value as HclValue;
use imgs_diagnostic::{Diagnostic, Diagnostics, Span};
use imgs_template::json::{Member, Node, Value};
use imgs_template::schema::{self, Section, ValueType};
use imgs_template::{
    BuilderBlock, HclBuildOutline, HclConfiguration, HclInspection, Invocation, PostProcessorBlock,
    ProvisionerBlock, Template, VariableDecl,
};
use indexmap::IndexMap;

use crate::config::{AttrDef, BlockDef, BodyDef, BuildDef, ConfigFile, Expr, PluginDef, SourceUse};
use crate::eval::{Scope, display_value, slash};
use crate::functions::{self, Host, TypeConstraint};
use crate::{Configuration, version};
use imgs_hcl_functions::{go_quote, printable};

/// Lowering problems are collected, not returned at the first.
struct Lowering<'c> {
    config: &'c Configuration,
    host: &'c dyn Host,
    errors: Vec<Diagnostic>,
    /// At load time, before the invocation is known: an expression that cannot be evaluated yet
    /// (a required variable without a value) lowers to null instead of failing.
    lenient: bool,
}

/// The host an invocation sees: the configuration's file access, the invocation's working
/// directory, and its clock (a fixed instant for fingerprints).
struct InvocationHost<'a> {
    files: &'a dyn crate::FileAccess,
    invocation: &'a Invocation,
    /// The configuration's directory as given (Packer's `path.root` and file-function base).
    root: &'a std::path::Path,
}

impl Host for InvocationHost<'_> {
    fn working_dir(&self) -> std::path::PathBuf {
        self.invocation.working_dir.clone()
    }
    fn base_dir(&self) -> std::path::PathBuf {
        self.invocation.working_dir.join(self.root)
    }
    fn read_file(&self, path: &std::path::Path) -> Result<Vec<u8>, String> {
        self.files.read_file(path)
    }
    fn is_file(&self, path: &std::path::Path) -> Result<bool, String> {
        self.files.is_file(path)
    }
    fn glob(&self, base: &std::path::Path, pattern: &str) -> Result<Vec<String>, String> {
        self.files.glob(base, pattern)
    }
    fn home_dir(&self) -> Option<std::path::PathBuf> {
        self.invocation
            .env
            .get("HOME")
            .map(std::path::PathBuf::from)
    }
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        match &self.invocation.volatile {
            imgs_template::interpolate::Volatile::Real { init_time } => *init_time,
            imgs_template::interpolate::Volatile::Placeholder => chrono::DateTime::UNIX_EPOCH,
        }
    }
    fn uuid_v4(&self) -> String {
        match &self.invocation.volatile {
            imgs_template::interpolate::Volatile::Real { .. } => self.files.uuid_v4(),
            imgs_template::interpolate::Volatile::Placeholder => {
                "00000000-0000-4000-8000-000000000000".to_string()
            }
        }
    }
}

pub(crate) fn lower(
    config: &Configuration,
    invocation: &Invocation,
    lenient: bool,
) -> Result<Template, Diagnostics> {
    let host = InvocationHost {
        files: config.files.as_ref(),
        invocation,
        root: &config.root,
    };
    let mut lowering = Lowering {
        config,
        host: &host,
        errors: Vec::new(),
        lenient,
    };
    lowering.required_versions();
    let (scope, variables) = lowering.scope(invocation);
    let mut template = lowering.template(&scope, &variables);
    if !lowering.errors.is_empty() && !lenient {
        return Err(Diagnostics(lowering.errors));
    }
    template.hcl = Some(Arc::new(config.clone()) as Arc<dyn HclConfiguration>);
    Ok(template)
}

/// What `packer inspect` shows, with the values known without an invocation but the working
/// directory's.
pub(crate) fn inspect(config: &Configuration, invocation: &Invocation) -> HclInspection {
    let host = InvocationHost {
        files: config.files.as_ref(),
        invocation,
        root: &config.root,
    };
    let mut lowering = Lowering {
        config,
        host: &host,
        errors: Vec::new(),
        lenient: true,
    };
    let (scope, variables) = lowering.scope(invocation);
    let locals = scope.locals;
    let unset: Vec<&String> = config
        .blocks
        .variables
        .keys()
        .filter(|name| {
            variables.get(*name).is_none_or(|(v, _)| is_null(v))
                && config.blocks.variables[*name].default.is_none()
        })
        .collect();
    let shown = |value: &HclValue| go_quote(&printable(value));
    let mut variables: Vec<(String, String)> = variables
        .iter()
        .map(|(name, (value, _))| {
            let text = if unset.contains(&name) {
                go_quote("<unknown>")
            } else if config
                .blocks
                .variables
                .get(name)
                .is_some_and(|v| v.sensitive)
            {
                // Packer masks sensitive values in what it prints.
                go_quote("<sensitive>")
            } else {
                shown(value)
            };
            (name.clone(), text)
        })
        .collect();
    variables.sort();
    let mut locals: Vec<(String, String)> = locals
        .iter()
        .map(|(name, value)| (name.clone(), shown(value)))
        .collect();
    locals.sort();
    let named = |kind: &str, name: &Option<String>| match name {
        Some(n) if !n.is_empty() => format!("{kind}.{n}"),
        _ => kind.to_string(),
    };
    let builds = config
        .blocks
        .builds
        .iter()
        .map(|b| HclBuildOutline {
            name: b.name.clone(),
            description: b.description.clone(),
            sources: b
                .sources
                .iter()
                .map(|s| format!("{}.{}", s.kind, s.name))
                .collect(),
            provisioners: b
                .provisioners
                .iter()
                .map(|p| named(&p.kind, &p.name))
                .collect(),
            post_processors: b
                .post_processor_chains
                .iter()
                .map(|c| c.iter().map(|p| named(&p.kind, &p.name)).collect())
                .collect(),
        })
        .collect();
    HclInspection {
        variables,
        locals,
        builds,
    }
}

fn is_null(value: &HclValue) -> bool {
    matches!(value, HclValue::Null)
}

impl Lowering<'_> {
    fn error(&mut self, message: impl Into<String>, span: Span, hint: impl Into<String>) {
        if self.lenient {
            return;
        }
        let d = self.config.at.error(message, span.start).hint(hint);
        self.errors.push(d);
    }

    fn eval(&mut self, scope: &Scope, expr: &Expr) -> HclValue {
        match scope.evaluate(&expr.expr, self.host) {
            Ok(v) => v,
            Err(message) => {
                self.error(
                    message,
                    expr.span,
                    "see the function and variable names Packer 1.6.6 has",
                );
                HclValue::Null
            }
        }
    }

    fn required_versions(&mut self) {
        for (constraint, span) in &self.config.blocks.required_versions {
            match version::satisfied_by_1_6_6(constraint) {
                Ok(true) => {}
                Ok(false) => self.error(
                    format!("Unsupported Packer Core version: this configuration requires Packer {constraint}; imgs reads configurations as Packer 1.6.6 does"),
                    *span,
                    "change required_version if the configuration works with Packer 1.6.6",
                ),
                Err(e) => self.error(format!("Invalid version constraint: {e}"), *span, "write for example \">= 1.5.0, < 2.0.0\""),
            }
        }
    }

    /// Every variable's value for this invocation, lowest precedence first: default, `PKR_VAR_*`,
    /// Images.toml values (parents' artifacts included), `*.auto.pkrvars.hcl` and `-var-file`
    /// files, `-var`.
    fn variables(&mut self, invocation: &Invocation) -> IndexMap<String, (HclValue, bool)> {
        let defaults = Scope::default();
        let mut out = IndexMap::new();
        let mut types: IndexMap<String, TypeConstraint> = IndexMap::new();
        let declared = self.config.blocks.variables.clone();
        for (name, def) in &declared {
            let ty = match &def.type_expr {
                Some(expr) => match functions::type_constraint(&expr.expr) {
                    Ok(ty) => ty,
                    Err(e) => {
                        self.error(format!("Invalid type specification: {e}"), expr.span, "types are string, number, bool, list(T), set(T), map(T), object({…}), tuple([…]) and any");
                        TypeConstraint::Any
                    }
                },
                None => TypeConstraint::Any,
            };
            let mut value = None;
            if let Some(expr) = &def.default {
                let v = self.eval(&defaults, expr);
                value = Some(match functions::convert(&v, &ty) {
                    Ok(v) => v,
                    Err(e) => {
                        self.error(format!("Invalid default value for variable: this default value is not compatible with the variable's type constraint: {e}"), expr.span, "change the default or the type");
                        v
                    }
                });
            }
            types.insert(name.clone(), ty);
            out.insert(name.clone(), value);
        }
        let mut assign = |this: &mut Self,
                          name: &str,
                          value: HclValue,
                          span: Option<Span>,
                          what: &str| {
            let Some(ty) = types.get(name) else {
                return;
            };
            match functions::convert(&value, ty) {
                Ok(v) => {
                    out.insert(name.to_string(), Some(v));
                }
                Err(e) => {
                    let message = format!(
                        "Invalid value for variable: the value for {name} {what} is not compatible with the variable's type constraint: {e}"
                    );
                    match span {
                        Some(span) => {
                            this.error(message, span, "give a value of the variable's type")
                        }
                        None => {
                            if !this.lenient {
                                this.errors.push(
                                    Diagnostic::error(message)
                                        .key(format!("var.{name}"))
                                        .hint("give a value of the variable's type"),
                                );
                            }
                        }
                    }
                }
            }
        };
        for (key, raw) in &invocation.env {
            if let Some(name) = key.strip_prefix("PKR_VAR_")
                && let Some(ty) = types.get(name)
            {
                let value = self.string_argument(raw, ty);
                assign(self, name, value, None, "from the environment");
            }
        }
        for (name, raw) in &invocation.workspace_vars {
            if let Some(ty) = types.get(name) {
                let value = self.string_argument(raw, ty);
                assign(self, name, value, None, "from Images.toml");
            }
        }
        let mut files: Vec<ConfigFile> = self.config.auto_var_files.clone();
        files.extend(invocation.var_files.iter().map(|f| ConfigFile {
            path: f.path.clone(),
            text: f.text.clone(),
        }));
        for file in &files {
            for (name, value, span) in self.var_file(file) {
                if types.contains_key(&name) {
                    assign(
                        self,
                        &name,
                        value,
                        None,
                        &format!("in {}", file.path.display()),
                    );
                } else {
                    let _ = span;
                }
            }
        }
        for (name, raw) in &invocation.cli_vars {
            match types.get(name) {
                Some(ty) => {
                    let value = self.string_argument(raw, ty);
                    assign(self, name, value, None, "from -var");
                }
                None if !self.lenient => self.errors.push(
                    Diagnostic::error(format!("Undefined -var variable: a {name:?} variable was passed in the command line but was not found in known variables"))
                        .key(format!("var.{name}"))
                        .hint(format!("declare it: variable \"{name}\" {{ type = string }}")),
                ),
                None => {}
            }
        }
        let mut values = IndexMap::new();
        for (name, def) in &declared {
            match out.get(name).cloned().flatten() {
                Some(value) => {
                    self.validate_variable(def, &value);
                    values.insert(name.clone(), (value, def.sensitive));
                }
                None => {
                    self.error(
                        format!("Unset variable {name:?}: a used variable must be set or have a default value"),
                        def.span,
                        format!("give it a default, or a value: -var '{name}=…', a var file, PKR_VAR_{name}, or in Images.toml"),
                    );
                    values.insert(name.clone(), (HclValue::Null, def.sensitive));
                }
            }
        }
        values
    }

    /// A value given as a string (`-var`, the environment, Images.toml): taken as it is for string,
    /// number and untyped variables, parsed as an expression for the others, as Packer does.
    fn string_argument(&mut self, raw: &str, ty: &TypeConstraint) -> HclValue {
        match ty {
            TypeConstraint::String | TypeConstraint::Number | TypeConstraint::Any => {
                HclValue::String(raw.to_string())
            }
            _ => match raw.parse::<hcl::Expression>() {
                Ok(expr) => Scope::default()
                    .evaluate(&expr, self.host)
                    .unwrap_or(HclValue::String(raw.to_string())),
                Err(_) => HclValue::String(raw.to_string()),
            },
        }
    }

    /// `name = value` pairs of a variable file (HCL; a `.json` file is a JSON object).
    fn var_file(&mut self, file: &ConfigFile) -> Vec<(String, HclValue, Span)> {
        let name = file.path.to_string_lossy();
        // The caller reads `--var-file`s; one that could not be read arrives empty.
        if file.text.is_empty()
            && !matches!(
                self.host.is_file(&self.config.working_dir.join(&file.path)),
                Ok(true)
            )
        {
            if !self.lenient {
                self.errors.push(
                    Diagnostic::error(format!(
                        "Failed to read file: the configuration file `{name}` could not be read"
                    ))
                    .in_file(&file.path)
                    .hint("check the path given to --var-file"),
                );
            }
            return Vec::new();
        }
        if name.ends_with(".json") {
            return match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(
                &file.text,
            ) {
                Ok(map) => map
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            hcl::to_value(v).unwrap_or(HclValue::Null),
                            Span::default(),
                        )
                    })
                    .collect(),
                Err(e) => {
                    if !self.lenient {
                        self.errors.push(
                            Diagnostic::error(format!("cannot read variable file: {e}"))
                                .in_file(&file.path),
                        );
                    }
                    Vec::new()
                }
            };
        }
        if !name.ends_with(".hcl") {
            if !self.lenient {
                self.errors.push(
                    Diagnostic::error(format!("Could not guess format of {name}"))
                        .in_file(&file.path)
                        .hint("a var file must be suffixed with `.hcl` or `.json`"),
                );
            }
            return Vec::new();
        }
        let body = match hcl_edit::parser::parse_body(&file.text) {
            Ok(body) => body,
            Err(e) => {
                if !self.lenient {
                    self.errors.push(
                        Diagnostic::error(format!("Invalid HCL syntax: {}", e.message())).at(
                            imgs_diagnostic::Location::at_line_col(
                                &file.path,
                                e.location().line(),
                                e.location().column(),
                            ),
                        ),
                    );
                }
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for structure in body.iter() {
            match structure {
                hcl_edit::structure::Structure::Attribute(attr) => {
                    let expr = hcl::Expression::from(attr.value.clone());
                    match Scope::default().evaluate(&expr, self.host) {
                        Ok(v) => out.push((attr.key.as_str().to_string(), v, Span::default())),
                        Err(e) => {
                            if !self.lenient {
                                self.errors.push(
                                    Diagnostic::error(e)
                                        .in_file(&file.path)
                                        .key(attr.key.as_str().to_string()),
                                );
                            }
                        }
                    }
                }
                hcl_edit::structure::Structure::Block(block) => {
                    if !self.lenient {
                        let what = if block.ident.as_str() == "variable" {
                            "Variable declaration in a .pkrvar file: a .pkrvar file assigns values to variables declared in .pkr.hcl files".to_string()
                        } else {
                            format!(
                                "Unexpected `{}` block: a variable file holds `name = value` only",
                                block.ident.as_str()
                            )
                        };
                        self.errors.push(
                            Diagnostic::error(what)
                                .in_file(&file.path)
                                .hint("write `name = value`"),
                        );
                    }
                }
            }
        }
        out
    }

    fn validate_variable(&mut self, def: &crate::config::VariableDef, value: &HclValue) {
        for validation in &def.validations {
            let mut scope = Scope::default();
            scope.vars.insert(def.name.clone(), value.clone());
            match scope.evaluate(&validation.condition.expr, self.host) {
                Ok(HclValue::Bool(true)) => {}
                Ok(HclValue::Bool(false)) => self.error(
                    format!("Invalid value for variable {}: {}", def.name, validation.error_message),
                    validation.span,
                    "this was checked by the variable's validation rule",
                ),
                Ok(HclValue::Null) => self.error(
                    "Invalid variable validation result: the condition must return either true or false, not null",
                    validation.condition.span,
                    "make the condition a bool",
                ),
                Ok(other) => self.error(
                    format!("Invalid variable validation result: a bool is required, not {}", display_value(&other)),
                    validation.condition.span,
                    "make the condition a bool",
                ),
                Err(e) => self.error(e, validation.condition.span, "fix the condition"),
            }
        }
    }

    /// Locals in passes, as Packer evaluates them: each pass evaluates what it can; what reads a
    /// local not evaluated yet waits for the next; when a pass makes no progress the remaining ones
    /// fail with their own errors.
    /// What the configuration's expressions read: `path`, the variables with their values for
    /// this invocation, and the locals.
    fn scope(&mut self, invocation: &Invocation) -> (Scope, IndexMap<String, (HclValue, bool)>) {
        let mut scope = Scope {
            path_cwd: slash(&invocation.working_dir),
            path_root: slash(&self.config.root),
            ..Scope::default()
        };
        let variables = self.variables(invocation);
        scope.vars = variables
            .iter()
            .map(|(name, (value, _))| (name.clone(), value.clone()))
            .collect();
        scope.locals = self.locals(&scope);
        (scope, variables)
    }

    fn locals(&mut self, scope: &Scope) -> IndexMap<String, HclValue> {
        let mut scope = scope.clone();
        let mut pending: Vec<&crate::config::LocalDef> = self.config.blocks.locals.iter().collect();
        loop {
            let mut progressed = false;
            let mut still = Vec::new();
            for local in pending {
                match scope.evaluate(&local.value.expr, self.host) {
                    Ok(v) => {
                        scope.locals.insert(local.name.clone(), v);
                        progressed = true;
                    }
                    Err(_) => still.push(local),
                }
            }
            pending = still;
            if pending.is_empty() || !progressed {
                break;
            }
        }
        for local in pending {
            let message = scope
                .evaluate(&local.value.expr, self.host)
                .err()
                .unwrap_or_default();
            let hint = if message.contains("function") {
                "check the function's arguments (Packer 1.6.6's HCL2 function set)"
            } else {
                "a local may read variables, functions and other locals (no cycles)"
            };
            self.error(
                format!("local.{}: {message}", local.name),
                local.value.span,
                hint,
            );
            scope.locals.insert(local.name.clone(), HclValue::Null);
        }
        scope.locals
    }

    fn template(
        &mut self,
        scope: &Scope,
        variables: &IndexMap<String, (HclValue, bool)>,
    ) -> Template {
        let config = self.config;
        let whole = Span::new(0, config.at.text.len());
        let mut builders = Vec::new();
        let mut provisioners = Vec::new();
        let mut chains = Vec::new();
        for build in &config.blocks.builds {
            for used in &build.sources {
                let Some(source) = config
                    .blocks
                    .sources
                    .get(&(used.kind.clone(), used.name.clone()))
                else {
                    self.error(
                        format!("Unknown source {}.{}", used.kind, used.name),
                        used.span,
                        format!(
                            "declare it: source \"{}\" \"{}\" {{ … }}",
                            used.kind, used.name
                        ),
                    );
                    continue;
                };
                let local_name = used.local_name.clone().unwrap_or(used.name.clone());
                let source_string = format!("{}.{}", used.kind, local_name);
                let build_name = match &build.name {
                    Some(b) => format!("{b}.{source_string}"),
                    None => source_string.clone(),
                };
                let body = self.merged(&source.body, used);
                let section_schema = schema::lookup(Section::Builder, &source.kind);
                let config_node = self.body_node(scope, &body, section_schema, &[], source.span);
                builders.push(BuilderBlock {
                    name: build_name.clone(),
                    kind: source.kind.clone(),
                    config: config_node,
                    span: source.span,
                });
                let mut plugin_scope = scope.clone();
                plugin_scope.source = Some((used.kind.clone(), local_name.clone()));
                plugin_scope.build_name = Some(build.name.clone().unwrap_or_default());
                for p in &build.provisioners {
                    if skips(p, &source_string) {
                        continue;
                    }
                    if let Some(block) =
                        self.provisioner(&plugin_scope, p, &build_name, &local_name)
                    {
                        provisioners.push(block);
                    }
                }
                for chain in &build.post_processor_chains {
                    let lowered: Vec<PostProcessorBlock> = chain
                        .iter()
                        .filter(|p| !skips(p, &source_string))
                        .map(|p| self.post_processor(&plugin_scope, p, &build_name))
                        .collect();
                    if !lowered.is_empty() {
                        chains.push(lowered);
                    }
                }
            }
            let _: &BuildDef = build;
        }
        let mut variable_decls = IndexMap::new();
        let mut sensitive = Vec::new();
        for (name, (value, is_sensitive)) in variables {
            let def = &config.blocks.variables[name];
            variable_decls.insert(
                name.clone(),
                VariableDecl {
                    name: name.clone(),
                    default: (!is_null(value)).then(|| display_value(value)),
                    span: def.span,
                },
            );
            if *is_sensitive {
                sensitive.push(name.clone());
            }
        }
        let root = root_node(&builders, &provisioners, &chains, &variable_decls, whole);
        Template {
            path: config.root.clone(),
            dir: config.root.clone(),
            text: config.at.text.clone(),
            root,
            description: None,
            min_packer_version: None,
            variables: variable_decls,
            sensitive_variables: sensitive,
            builders,
            provisioners,
            post_processors: chains,
            error_cleanup_provisioner: None,
            comments: IndexMap::new(),
            segments: config.at.segments.clone(),
            hcl: None,
        }
    }

    /// The source's body with what the build's `source` block adds; setting an argument the
    /// source already sets is an error in Packer 1.6.6 (its bodies are merged, not overridden).
    fn merged(&mut self, body: &BodyDef, used: &SourceUse) -> BodyDef {
        let mut merged = body.clone();
        if let Some(addition) = &used.addition {
            for attr in &addition.attributes {
                if let Some(first) = body.attributes.iter().find(|a| a.key == attr.key) {
                    let at = self.config.at.location(first.key_span.start);
                    self.error(
                        format!("Duplicate argument: the argument `{}` was already set at {at}", attr.key),
                        attr.key_span,
                        "a build's source block may add arguments the source does not set, not replace them",
                    );
                    continue;
                }
                merged.attributes.push(attr.clone());
            }
            merged.blocks.extend(addition.blocks.iter().cloned());
        }
        merged
    }

    fn provisioner(
        &mut self,
        scope: &Scope,
        p: &PluginDef,
        build_name: &str,
        source_name: &str,
    ) -> Option<ProvisionerBlock> {
        let section_schema = schema::lookup(Section::Provisioner, &p.kind);
        for attr in &p.body.attributes {
            if let Some(why) = imgs_template::schema::unsettable_in_hcl2(&p.kind, &attr.key) {
                self.error(
                    format!(
                        "Unsupported argument: `{}` cannot be set in an HCL2 `{}` provisioner",
                        attr.key, p.kind
                    ),
                    attr.key_span,
                    why,
                );
            }
        }
        let config = self.body_node(scope, &p.body, section_schema, &[], p.span);
        let mut overrides = IndexMap::new();
        if let Some(expr) = &p.overrides {
            let value = self.eval(scope, expr);
            if let HclValue::Object(map) = &value {
                if let Some(over) = map.get(source_name) {
                    overrides.insert(build_name.to_string(), node_of(over, expr.span));
                }
            } else if !is_null(&value) {
                self.error(
                    "Invalid override: an object keyed by source name is required",
                    expr.span,
                    "write override = { NAME = { key = value } }",
                );
            }
        }
        let duration = |this: &mut Self, expr: &Option<Expr>, what: &str| -> Option<String> {
            let expr = expr.as_ref()?;
            let value = this.eval(scope, expr);
            let text = display_value(&value);
            if text.is_empty() {
                return None;
            }
            match imgs_template::parse_go_duration(&text) {
                Ok(_) => Some(text),
                Err(e) => {
                    this.error(
                        format!("Failed to parse {what} duration: {e}"),
                        expr.span,
                        "write a Go duration such as \"30s\" or \"5m\"",
                    );
                    None
                }
            }
        };
        let pause_before = duration(self, &p.pause_before, "pause_before");
        let timeout = duration(self, &p.timeout, "timeout");
        let mut max_retries = None;
        let mut max_retries_text = None;
        if let Some(expr) = &p.max_retries {
            match self.eval(scope, expr) {
                HclValue::Number(n) if n.as_u64().is_some() => max_retries = n.as_u64(),
                HclValue::String(s) if s.parse::<u64>().is_ok() => max_retries = s.parse().ok(),
                // Packer decodes an int: a negative count is accepted and retries nothing, as a
                // JSON template's would.
                HclValue::Number(n) if n.as_i64().is_some() => {
                    max_retries_text = n.as_i64().map(|n| n.to_string());
                }
                HclValue::String(s) if s.parse::<i64>().is_ok() => max_retries_text = Some(s),
                HclValue::Null => {}
                other => self.error(
                    format!(
                        "Invalid max_retries: a whole number is required, not {}",
                        display_value(&other)
                    ),
                    expr.span,
                    "write max_retries = 3",
                ),
            }
        }
        Some(ProvisionerBlock {
            kind: p.kind.clone(),
            config,
            only: vec![build_name.to_string()],
            except: Vec::new(),
            overrides,
            pause_before,
            max_retries,
            max_retries_text: max_retries.map(|n| n.to_string()).or(max_retries_text),
            timeout,
            span: p.span,
        })
    }

    fn post_processor(
        &mut self,
        scope: &Scope,
        p: &PluginDef,
        build_name: &str,
    ) -> PostProcessorBlock {
        let section_schema = schema::lookup(Section::PostProcessor, &p.kind);
        for attr in &p.body.attributes {
            if let Some(why) = imgs_template::schema::unsettable_in_hcl2(&p.kind, &attr.key) {
                self.error(
                    format!(
                        "Unsupported argument: `{}` cannot be set in an HCL2 `{}` post-processor",
                        attr.key, p.kind
                    ),
                    attr.key_span,
                    why,
                );
            }
        }
        let config = self.body_node(scope, &p.body, section_schema, &[], p.span);
        PostProcessorBlock {
            kind: p.kind.clone(),
            name: p.name.clone().unwrap_or(p.kind.clone()),
            config,
            only: vec![build_name.to_string()],
            except: Vec::new(),
            keep_input_artifact: p.keep_input_artifact,
            span: p.span,
        }
    }

    /// A plugin body as the JSON object a plugin decodes. The plugin's schema says which settings
    /// are blocks (structs and lists of structs) and which are arguments, as Packer's HCL2 specs do.
    fn body_node(
        &mut self,
        scope: &Scope,
        body: &BodyDef,
        plugin: Option<&'static schema::TypeSchema>,
        path: &[&str],
        span: Span,
    ) -> Node {
        let keys = match (plugin, path) {
            (Some(p), []) => Some(p.all_keys().collect::<Vec<_>>()),
            (Some(p), path) => p.nested_keys_at(path).map(|k| k.to_vec()),
            (None, _) => None,
        };
        let find = |key: &str| -> Option<ValueType> {
            let keys = keys.as_ref()?;
            keys.iter().find(|(k, _)| *k == key).map(|(_, t)| *t)
        };
        let mut members: Vec<Member> = Vec::new();
        // A struct (an object whose keys the schema knows) is a block; a free-form object such as
        // chef's `json` is an argument, as Packer's HCL2 specs have them.
        let is_struct = |key: &str| {
            let mut nested: Vec<&str> = path.to_vec();
            nested.push(key);
            plugin.and_then(|p| p.nested_keys_at(&nested)).is_some()
        };
        for attr in &body.attributes {
            let ty = find(&attr.key);
            if matches!(ty, Some(ValueType::Object | ValueType::ObjectList)) && is_struct(&attr.key)
            {
                self.error(
                    format!("Unsupported argument: an argument named `{}` is not expected here; did you mean to define a block of type `{}`?", attr.key, attr.key),
                    attr.key_span,
                    format!("write it as a block: {} {{ … }}", attr.key),
                );
                continue;
            }
            let value = self.eval(scope, &attr.value);
            members.push(member(attr, converted(&value, ty, attr.value.span)));
        }
        let mut expanded: Vec<BlockDef> = Vec::new();
        for block in &body.blocks {
            if block.ident == "dynamic" {
                expanded.extend(self.dynamic(scope, block));
            } else {
                expanded.push(block.clone());
            }
        }
        let mut seen: IndexMap<String, Vec<Node>> = IndexMap::new();
        let mut key_spans: IndexMap<String, Span> = IndexMap::new();
        for block in &expanded {
            let ty = find(&block.ident);
            if keys.is_some()
                && !matches!(ty, Some(ValueType::Object | ValueType::ObjectList) | None)
            {
                self.error(
                    format!("Unsupported block type: blocks of type `{}` are not expected here; did you mean to define argument `{}`?", block.ident, block.ident),
                    block.span,
                    format!("write it as an argument: {} = {{ … }}", block.ident),
                );
                continue;
            }
            if ty == Some(ValueType::Object) && seen.contains_key(&block.ident) {
                self.error(
                    format!(
                        "Too many {} blocks: no more than one is allowed",
                        block.ident
                    ),
                    block.span,
                    "merge the blocks into one",
                );
                continue;
            }
            let mut nested_path: Vec<&str> = path.to_vec();
            nested_path.push(&block.ident);
            let node = self.body_node(scope, &block.body, plugin, &nested_path, block.span);
            key_spans.entry(block.ident.clone()).or_insert(block.span);
            seen.entry(block.ident.clone()).or_default().push(node);
        }
        for (ident, nodes) in seen {
            let span = key_spans[&ident];
            let value = if find(&ident) == Some(ValueType::Object)
                || (nodes.len() == 1 && find(&ident).is_none())
            {
                nodes.into_iter().next().expect("one block at least")
            } else {
                Node {
                    value: Value::Array(nodes),
                    span,
                }
            };
            members.push(Member {
                key: ident,
                key_span: span,
                value,
            });
        }
        Node {
            value: Value::Object(members),
            span,
        }
    }

    /// `dynamic "NAME" { for_each = …, iterator = …, content { … } }`: one NAME block per element.
    fn dynamic(&mut self, scope: &Scope, block: &BlockDef) -> Vec<BlockDef> {
        let Some(ident) = block.labels.first().cloned() else {
            self.error(
                "Missing name for dynamic block",
                block.span,
                "write dynamic \"NAME\" { … }",
            );
            return Vec::new();
        };
        let for_each = block.body.attributes.iter().find(|a| a.key == "for_each");
        let iterator = block
            .body
            .attributes
            .iter()
            .find(|a| a.key == "iterator")
            .map(|a| a.value.expr.to_string())
            .unwrap_or(ident.clone());
        let Some(content) = block.body.blocks.iter().find(|b| b.ident == "content") else {
            self.error(
                "Missing content block in dynamic block",
                block.span,
                "add content { … }",
            );
            return Vec::new();
        };
        let Some(for_each) = for_each else {
            self.error(
                "Missing for_each in dynamic block",
                block.span,
                "add for_each = [ … ]",
            );
            return Vec::new();
        };
        let items: Vec<(HclValue, HclValue)> = match self.eval(scope, &for_each.value) {
            HclValue::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (HclValue::from(i as u64), v))
                .collect(),
            HclValue::Object(map) => map
                .into_iter()
                .map(|(k, v)| (HclValue::String(k), v))
                .collect(),
            HclValue::Null => Vec::new(),
            _ => {
                self.error(
                    "Invalid dynamic for_each value: a list, set or map is required",
                    for_each.value.span,
                    "give a collection",
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (key, value) in items {
            let mut iteration = scope.clone();
            let mut it = hcl::Map::new();
            it.insert("key".to_string(), key);
            it.insert("value".to_string(), value);
            iteration
                .extra
                .push((iterator.clone(), HclValue::Object(it)));
            let attributes = content
                .body
                .attributes
                .iter()
                .map(|a| {
                    let v = self.eval(&iteration, &a.value);
                    AttrDef {
                        key: a.key.clone(),
                        key_span: a.key_span,
                        value: Expr {
                            expr: hcl::Expression::from(v),
                            span: a.value.span,
                        },
                    }
                })
                .collect();
            out.push(BlockDef {
                ident: ident.clone(),
                labels: Vec::new(),
                body: BodyDef {
                    attributes,
                    blocks: content.body.blocks.clone(),
                },
                span: block.span,
            });
        }
        out
    }
}

/// Packer's `only`/`except` on a provisioner or post-processor, matched against `TYPE.NAME`.
fn skips(p: &PluginDef, source: &str) -> bool {
    if !p.only.is_empty() {
        return !p.only.iter().any(|n| n == source);
    }
    p.except.iter().any(|n| n == source)
}

fn member(attr: &AttrDef, value: Node) -> Member {
    Member {
        key: attr.key.clone(),
        key_span: attr.key_span,
        value,
    }
}

/// An HCL value converted as cty converts it to the setting's type where the JSON decoder would
/// read it differently: a bool or number given for a string becomes its HCL text (`true`, `22`).
fn converted(value: &HclValue, ty: Option<ValueType>, span: Span) -> Node {
    let as_string = |v: &HclValue| match v {
        HclValue::Bool(b) => Some(b.to_string()),
        HclValue::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match (ty, value) {
        (Some(ValueType::String), v) if as_string(v).is_some() => Node {
            value: Value::String(as_string(v).expect("checked")),
            span,
        },
        (Some(ValueType::StringList), HclValue::Array(items)) => Node {
            value: Value::Array(
                items
                    .iter()
                    .map(|item| match as_string(item) {
                        Some(s) => Node {
                            value: Value::String(s),
                            span,
                        },
                        None => node_of(item, span),
                    })
                    .collect(),
            ),
            span,
        },
        _ => node_of(value, span),
    }
}

/// An evaluated value as a template value; every part carries the expression's span.
pub(crate) fn node_of(value: &HclValue, span: Span) -> Node {
    let value = match value {
        HclValue::Null => Value::Null,
        HclValue::Bool(b) => Value::Bool(*b),
        HclValue::Number(n) => Value::Number(n.to_string()),
        HclValue::String(s) => Value::String(s.clone()),
        HclValue::Array(items) => Value::Array(items.iter().map(|v| node_of(v, span)).collect()),
        HclValue::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Member {
                    key: k.clone(),
                    key_span: span,
                    value: node_of(v, span),
                })
                .collect(),
        ),
    };
    Node { value, span }
}

/// The JSON shape of the lowered template, so what reads a template's structure by key finds it.
fn root_node(
    builders: &[BuilderBlock],
    provisioners: &[ProvisionerBlock],
    chains: &[Vec<PostProcessorBlock>],
    variables: &IndexMap<String, VariableDecl>,
    span: Span,
) -> Node {
    let list = |nodes: Vec<Node>| Node {
        value: Value::Array(nodes),
        span,
    };
    let entry = |key: &str, value: Node| Member {
        key: key.to_string(),
        key_span: span,
        value,
    };
    let variables = Node {
        value: Value::Object(
            variables
                .values()
                .map(|v| Member {
                    key: v.name.clone(),
                    key_span: v.span,
                    value: Node {
                        value: v.default.clone().map_or(Value::Null, Value::String),
                        span: v.span,
                    },
                })
                .collect(),
        ),
        span,
    };
    Node {
        value: Value::Object(vec![
            entry("variables", variables),
            entry(
                "builders",
                list(builders.iter().map(|b| b.config.clone()).collect()),
            ),
            entry(
                "provisioners",
                list(provisioners.iter().map(|p| p.config.clone()).collect()),
            ),
            entry(
                "post-processors",
                list(
                    chains
                        .iter()
                        .map(|c| list(c.iter().map(|p| p.config.clone()).collect()))
                        .collect(),
                ),
            ),
        ]),
        span,
    }
}
