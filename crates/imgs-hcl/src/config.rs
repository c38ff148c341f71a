//! Reading the files of a configuration into its blocks, with Packer 1.6.6's structural rules: which
//! blocks may appear where, with which labels and which attributes Packer itself reads. Expressions
//! are kept unevaluated; `lower` evaluates them for one invocation.

use std::path::PathBuf;

use hcl_edit::structure::{Attribute, Block, Body, Structure};
use imgs_diagnostic::{Diagnostic, Span};
use imgs_template::FileSegment;
use indexmap::IndexMap;

use crate::located::Located;

/// One file of the configuration as given by the caller.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub text: String,
}

/// An expression and where it is written (in the joined text).
#[derive(Clone, Debug)]
pub(crate) struct Expr {
    pub expr: hcl::Expression,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub(crate) struct AttrDef {
    pub key: String,
    pub key_span: Span,
    pub value: Expr,
}

#[derive(Clone, Debug)]
pub(crate) struct BlockDef {
    pub ident: String,
    pub labels: Vec<String>,
    pub body: BodyDef,
    pub span: Span,
}

/// A block body kept for the plugin that reads it.
#[derive(Clone, Debug, Default)]
pub(crate) struct BodyDef {
    pub attributes: Vec<AttrDef>,
    pub blocks: Vec<BlockDef>,
}

#[derive(Clone, Debug)]
pub(crate) struct VariableDef {
    pub name: String,
    pub span: Span,
    pub default: Option<Expr>,
    pub type_expr: Option<Expr>,
    pub sensitive: bool,
    pub description: Option<String>,
    pub validations: Vec<ValidationDef>,
}

#[derive(Clone, Debug)]
pub(crate) struct ValidationDef {
    pub condition: Expr,
    pub error_message: String,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub(crate) struct LocalDef {
    pub name: String,
    pub value: Expr,
}

#[derive(Clone, Debug)]
pub(crate) struct SourceDef {
    pub kind: String,
    pub name: String,
    pub body: BodyDef,
    pub span: Span,
}

/// A source a build block uses, with the fields a `source` block inside the build adds.
#[derive(Clone, Debug)]
pub(crate) struct SourceUse {
    pub kind: String,
    pub name: String,
    /// `name` inside the build's `source` block: the name the build goes by.
    pub local_name: Option<String>,
    pub addition: Option<BodyDef>,
    pub span: Span,
}

/// A provisioner or post-processor block of a build.
#[derive(Clone, Debug)]
pub(crate) struct PluginDef {
    pub kind: String,
    pub name: Option<String>,
    pub only: Vec<String>,
    pub except: Vec<String>,
    pub pause_before: Option<Expr>,
    pub max_retries: Option<Expr>,
    pub timeout: Option<Expr>,
    pub overrides: Option<Expr>,
    pub keep_input_artifact: Option<bool>,
    /// Everything else: the plugin's settings.
    pub body: BodyDef,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub(crate) struct BuildDef {
    pub name: Option<String>,
    pub description: Option<String>,
    pub sources: Vec<SourceUse>,
    pub provisioners: Vec<PluginDef>,
    pub post_processor_chains: Vec<Vec<PluginDef>>,
}

/// The configuration's blocks, read from all its files.
#[derive(Clone, Debug, Default)]
pub(crate) struct Blocks {
    pub required_versions: Vec<(String, Span)>,
    pub variables: IndexMap<String, VariableDef>,
    pub locals: Vec<LocalDef>,
    pub sources: IndexMap<(String, String), SourceDef>,
    pub builds: Vec<BuildDef>,
}

/// The files joined into one text (each starting on a line of its own) and where each starts.
pub(crate) fn join(files: &[ConfigFile]) -> (String, Vec<FileSegment>) {
    let mut text = String::new();
    let mut segments = Vec::new();
    for file in files {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        segments.push(FileSegment {
            path: file.path.clone(),
            start: text.len(),
        });
        text.push_str(&file.text);
    }
    (text, segments)
}

/// Parse every file; syntax errors are located in their file.
pub(crate) fn parse_files(
    files: &[ConfigFile],
    segments: &[FileSegment],
    at: &Located,
) -> Result<Vec<(usize, Body)>, Vec<Diagnostic>> {
    let mut bodies = Vec::new();
    let mut errors = Vec::new();
    for (file, segment) in files.iter().zip(segments) {
        match hcl_edit::parser::parse_body(&file.text) {
            Ok(body) => bodies.push((segment.start, body)),
            Err(e) => {
                let offset = segment.start + e.location().offset();
                errors.push(
                    at.error(format!("Invalid HCL syntax: {}", e.message()), offset)
                        .hint("fix the syntax; `imgs fmt` reports the same error"),
                );
            }
        }
    }
    if errors.is_empty() {
        Ok(bodies)
    } else {
        Err(errors)
    }
}

/// Turns hcl-edit items into located definitions, collecting Packer's structural errors.
pub(crate) struct Reader<'a> {
    pub at: &'a Located,
    pub base: usize,
    pub errors: Vec<Diagnostic>,
}

fn span_of(base: usize, range: Option<std::ops::Range<usize>>) -> Span {
    range.map_or(Span::new(base, base), |r| {
        Span::new(base + r.start, base + r.end)
    })
}

impl Reader<'_> {
    fn span(&self, item: &impl hcl_edit::Span) -> Span {
        span_of(self.base, item.span())
    }

    fn error(&mut self, message: impl Into<String>, span: Span, hint: impl Into<String>) {
        let d = self.at.error(message, span.start).hint(hint);
        self.errors.push(d);
    }

    pub(crate) fn expr(&self, attr: &Attribute) -> Expr {
        Expr {
            expr: hcl::Expression::from(attr.value.clone()),
            span: self.span(&attr.value),
        }
    }

    /// Every attribute and block of a plugin's body, kept as written.
    pub(crate) fn body(&mut self, body: &Body) -> BodyDef {
        let mut out = BodyDef::default();
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    let key = attr.key.as_str().to_string();
                    if let Some(first) = out.attributes.iter().find(|a| a.key == key) {
                        let first = self.at.location(first.key_span.start);
                        self.error(
                            format!("Attribute redefined: the argument `{key}` was already set at {first}"),
                            self.span(&attr.key),
                            "each argument may be set only once in a block",
                        );
                        continue;
                    }
                    out.attributes.push(AttrDef {
                        key,
                        key_span: self.span(&attr.key),
                        value: self.expr(attr),
                    });
                }
                Structure::Block(block) => {
                    let def = BlockDef {
                        ident: block.ident.as_str().to_string(),
                        labels: block
                            .labels
                            .iter()
                            .map(|l| l.as_str().to_string())
                            .collect(),
                        body: self.body(&block.body),
                        span: self.span(block),
                    };
                    out.blocks.push(def);
                }
            }
        }
        out
    }

    /// Read one file's top-level blocks into `blocks`.
    pub(crate) fn file(&mut self, body: &Body, blocks: &mut Blocks) {
        for structure in body.iter() {
            let block = match structure {
                Structure::Block(block) => block,
                Structure::Attribute(attr) => {
                    let key = attr.key.as_str().to_string();
                    self.error(
                        format!("Unsupported argument; an argument named `{key}` is not expected here"),
                        self.span(&attr.key),
                        "the top level of a configuration holds blocks only: packer, variable, variables, locals, source, build",
                    );
                    continue;
                }
            };
            match block.ident.as_str() {
                "packer" => self.packer(block, blocks),
                "variable" => self.variable_block(block, blocks),
                "variables" => self.variables_block(block, blocks),
                "locals" => self.locals(block, blocks),
                "source" => self.source(block, blocks),
                "build" => self.build(block, blocks),
                // Packer 1.6.6 accepts the block and does nothing with it.
                "communicator" => {
                    self.labels(block, &["type", "name"]);
                }
                other => {
                    let hint = match other {
                        "data" => "data sources came after Packer 1.6.6, which imgs follows; compute the value in a local or pass it as a variable".to_string(),
                        "local" => "`local` blocks came after Packer 1.6.6; use a `locals { name = … }` block".to_string(),
                        _ => "the blocks a configuration may hold are packer, variable, variables, locals, source and build".to_string(),
                    };
                    self.error(
                        format!(
                            "Unsupported block type: blocks of type `{other}` are not expected here"
                        ),
                        self.span(&block.ident),
                        hint,
                    );
                }
            }
        }
    }

    /// Check a block has exactly the labels `names` (Packer's "Missing name for …" / "Extraneous label").
    fn labels(&mut self, block: &Block, names: &[&str]) -> bool {
        let ident = block.ident.as_str();
        if block.labels.len() < names.len() {
            let missing = names[block.labels.len()];
            self.error(
                format!(
                    "Missing {missing} for {ident}: all {ident} blocks must have {} labels ({})",
                    names.len(),
                    names.join(", ")
                ),
                self.span(&block.ident),
                format!(
                    "write `{ident} {}{{ … }}`",
                    names
                        .iter()
                        .map(|n| format!("\"{n}\" "))
                        .collect::<String>()
                ),
            );
            return false;
        }
        if block.labels.len() > names.len() {
            let extra = &block.labels[names.len()];
            self.error(
                format!(
                    "Extraneous label for {ident}: only {} labels are expected",
                    names.len()
                ),
                self.span(extra),
                format!("remove the label `{}`", extra.as_str()),
            );
            return false;
        }
        true
    }

    fn packer(&mut self, block: &Block, blocks: &mut Blocks) {
        if !self.labels(block, &[]) {
            return;
        }
        for structure in block.body.iter() {
            match structure {
                Structure::Attribute(attr) if attr.key.as_str() == "required_version" => {
                    match &attr.value {
                        hcl_edit::expr::Expression::String(s) => blocks
                            .required_versions
                            .push((s.value().to_string(), self.span(&attr.value))),
                        _ => self.error(
                            "Invalid required_version: a string literal is required",
                            self.span(&attr.value),
                            "write required_version = \">= 1.6.0\"",
                        ),
                    }
                }
                other => self.unsupported(other, "packer", &["required_version"]),
            }
        }
    }

    /// An attribute or block the schema of `within` does not have.
    fn unsupported(&mut self, item: &Structure, within: &str, known: &[&str]) {
        let known = if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        };
        match item {
            Structure::Attribute(attr) => self.error(
                format!(
                    "Unsupported argument: an argument named `{}` is not expected in a {within} block",
                    attr.key.as_str()
                ),
                self.span(&attr.key),
                format!("the arguments a {within} block takes: {known}"),
            ),
            Structure::Block(block) => self.error(
                format!(
                    "Unsupported block type: blocks of type `{}` are not expected in a {within} block",
                    block.ident.as_str()
                ),
                self.span(&block.ident),
                format!("what a {within} block takes: {known}"),
            ),
        }
    }

    fn declare(&mut self, def: VariableDef, blocks: &mut Blocks) {
        if blocks.variables.contains_key(&def.name) {
            self.error(
                format!(
                    "Duplicate variable: `{}` is declared more than once",
                    def.name
                ),
                def.span,
                "declare each variable once, in any of the configuration's files",
            );
            return;
        }
        blocks.variables.insert(def.name.clone(), def);
    }

    fn variable_block(&mut self, block: &Block, blocks: &mut Blocks) {
        if !self.labels(block, &["name"]) {
            return;
        }
        let name = block.labels[0].as_str().to_string();
        let span = self.span(block);
        if !valid_identifier(&name) {
            self.error(
                format!("Invalid variable name `{name}`"),
                span,
                "a name must start with a letter or underscore and may contain only letters, digits, underscores, and dashes",
            );
            return;
        }
        let mut def = VariableDef {
            name,
            span,
            default: None,
            type_expr: None,
            sensitive: false,
            description: None,
            validations: Vec::new(),
        };
        for structure in block.body.iter() {
            match structure {
                Structure::Attribute(attr) => match attr.key.as_str() {
                    "default" => def.default = Some(self.expr(attr)),
                    "type" => def.type_expr = Some(self.expr(attr)),
                    "description" => match self.literal_string(attr) {
                        Some(s) => def.description = Some(s),
                        None => self.error(
                            "Invalid description: a string literal is required",
                            self.span(&attr.value),
                            "variables are not allowed here",
                        ),
                    },
                    "sensitive" => match &attr.value {
                        hcl_edit::expr::Expression::Bool(b) => def.sensitive = *b.value(),
                        _ => self.error(
                            "Invalid sensitive: a bool literal is required",
                            self.span(&attr.value),
                            "write sensitive = true",
                        ),
                    },
                    _ => self.unsupported(
                        structure,
                        "variable",
                        &["default", "type", "description", "sensitive", "validation"],
                    ),
                },
                Structure::Block(inner) if inner.ident.as_str() == "validation" => {
                    if let Some(v) = self.validation(&def.name, inner) {
                        def.validations.push(v);
                    }
                }
                other => self.unsupported(
                    other,
                    "variable",
                    &["default", "type", "description", "sensitive", "validation"],
                ),
            }
        }
        self.declare(def, blocks);
    }

    fn validation(&mut self, variable: &str, block: &Block) -> Option<ValidationDef> {
        let mut condition = None;
        let mut message = None;
        for structure in block.body.iter() {
            match structure {
                Structure::Attribute(attr) if attr.key.as_str() == "condition" => {
                    condition = Some(self.expr(attr))
                }
                Structure::Attribute(attr) if attr.key.as_str() == "error_message" => {
                    message = Some((self.literal_string(attr), self.span(&attr.value)))
                }
                other => self.unsupported(other, "validation", &["condition", "error_message"]),
            }
        }
        let span = self.span(block);
        let Some(condition) = condition else {
            self.error(
                "Missing required argument: the argument `condition` is required",
                span,
                "add condition = <an expression of var.NAME>",
            );
            return None;
        };
        let Some((message, message_span)) = message else {
            self.error(
                "Missing required argument: the argument `error_message` is required",
                span,
                "add error_message = \"The value must be ….\"",
            );
            return None;
        };
        let reads = crate::eval::variables_read(&condition.expr);
        if reads
            .iter()
            .any(|(root, attr)| root != "var" || attr.as_deref() != Some(variable))
        {
            self.error(
                "Invalid reference in variable validation",
                condition.span,
                format!("the condition for variable `{variable}` can only refer to the variable itself, using var.{variable}"),
            );
            return None;
        }
        if reads.is_empty() {
            self.error(
                "Invalid variable validation condition",
                condition.span,
                format!("the condition for variable `{variable}` must refer to var.{variable} in order to test incoming values"),
            );
            return None;
        }
        match message {
            Some(m) if m.is_empty() => {
                self.error("Invalid validation error message: an empty string is not a valid nor useful error message", message_span, "write one full sentence");
                None
            }
            Some(m) if !looks_like_sentences(&m) => {
                self.error(
                    "Invalid validation error message: it must be at least one full sentence starting with an uppercase letter and ending with a period or question mark",
                    message_span,
                    "for example: \"The image name must start with `app-`.\"",
                );
                None
            }
            Some(m) => Some(ValidationDef {
                condition,
                error_message: m,
                span,
            }),
            // Packer 1.6.6 evaluates a non-literal message without variables.
            None => Some(ValidationDef {
                condition,
                error_message: String::new(),
                span,
            }),
        }
    }

    fn literal_string(&self, attr: &Attribute) -> Option<String> {
        match &attr.value {
            hcl_edit::expr::Expression::String(s) => Some(s.value().to_string()),
            _ => None,
        }
    }

    fn variables_block(&mut self, block: &Block, blocks: &mut Blocks) {
        if !self.labels(block, &[]) {
            return;
        }
        for structure in block.body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    let def = VariableDef {
                        name: attr.key.as_str().to_string(),
                        span: self.span(attr),
                        default: Some(self.expr(attr)),
                        type_expr: None,
                        sensitive: false,
                        description: None,
                        validations: Vec::new(),
                    };
                    self.declare(def, blocks);
                }
                Structure::Block(inner) => self.error(
                    format!(
                        "Unexpected `{}` block: blocks are not allowed here",
                        inner.ident.as_str()
                    ),
                    self.span(&inner.ident),
                    "a variables block holds `name = default` arguments only",
                ),
            }
        }
    }

    fn locals(&mut self, block: &Block, blocks: &mut Blocks) {
        if !self.labels(block, &[]) {
            return;
        }
        for structure in block.body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    // Packer 1.6.6 accepts a local defined twice: each definition is evaluated in
                    // order and the last one evaluated holds.
                    let name = attr.key.as_str().to_string();
                    let value = self.expr(attr);
                    blocks.locals.push(LocalDef { name, value });
                }
                Structure::Block(inner) => self.error(
                    format!(
                        "Unexpected `{}` block: blocks are not allowed here",
                        inner.ident.as_str()
                    ),
                    self.span(&inner.ident),
                    "a locals block holds `name = expression` arguments only",
                ),
            }
        }
    }

    fn source(&mut self, block: &Block, blocks: &mut Blocks) {
        if !self.labels(block, &["type", "name"]) {
            return;
        }
        let kind = block.labels[0].as_str().to_string();
        let name = block.labels[1].as_str().to_string();
        let span = self.span(block);
        if !imgs_template::schema::packer_known(imgs_template::schema::Section::Builder, &kind) {
            self.error(
                format!("Unknown source type {kind}"),
                self.span(&block.labels[0]),
                "the builder types of Packer 1.6.6 are known; check the spelling",
            );
            return;
        }
        let key = (kind.clone(), name.clone());
        if let Some(first) = blocks.sources.get(&key) {
            let first = self.at.location(first.span.start);
            self.error(
                format!("Duplicate source block: `{kind}.{name}` is already declared at {first}"),
                span,
                "each source must have a unique name per builder type",
            );
            return;
        }
        let body = self.body(&block.body);
        blocks.sources.insert(
            key,
            SourceDef {
                kind,
                name,
                body,
                span,
            },
        );
    }

    fn build(&mut self, block: &Block, blocks: &mut Blocks) {
        if !self.labels(block, &[]) {
            return;
        }
        let mut build = BuildDef {
            name: None,
            description: None,
            sources: Vec::new(),
            provisioners: Vec::new(),
            post_processor_chains: Vec::new(),
        };
        let errors_before = self.errors.len();
        for structure in block.body.iter() {
            match structure {
                Structure::Attribute(attr) => match attr.key.as_str() {
                    "name" => match self.literal_string(attr) {
                        Some(name) => build.name = Some(name),
                        None => self.error(
                            "Invalid build name: a string literal is required",
                            self.span(&attr.value),
                            "variables are not allowed here",
                        ),
                    },
                    "description" => match self.literal_string(attr) {
                        Some(d) => build.description = Some(d),
                        None => self.error(
                            "Invalid build description: a string literal is required",
                            self.span(&attr.value),
                            "variables are not allowed here",
                        ),
                    },
                    "sources" => self.build_sources(attr, &mut build),
                    _ => self.unsupported(
                        structure,
                        "build",
                        &[
                            "name",
                            "description",
                            "sources",
                            "source",
                            "provisioner",
                            "post-processor",
                            "post-processors",
                        ],
                    ),
                },
                Structure::Block(inner) => match inner.ident.as_str() {
                    "source" => self.build_source(inner, &mut build),
                    "provisioner" => {
                        if let Some(p) = self.plugin(inner, true) {
                            build.provisioners.push(p);
                        }
                    }
                    "post-processor" => {
                        if let Some(p) = self.plugin(inner, false) {
                            build.post_processor_chains.push(vec![p]);
                        }
                    }
                    "post-processors" => {
                        if !self.labels(inner, &[]) {
                            continue;
                        }
                        let mut chain = Vec::new();
                        for item in inner.body.iter() {
                            match item {
                                Structure::Block(pp) if pp.ident.as_str() == "post-processor" => {
                                    if let Some(p) = self.plugin(pp, false) {
                                        chain.push(p);
                                    }
                                }
                                other => {
                                    self.unsupported(other, "post-processors", &["post-processor"])
                                }
                            }
                        }
                        build.post_processor_chains.push(chain);
                    }
                    _ => self.unsupported(
                        structure,
                        "build",
                        &[
                            "name",
                            "description",
                            "sources",
                            "source",
                            "provisioner",
                            "post-processor",
                            "post-processors",
                        ],
                    ),
                },
            }
        }
        if self.errors.len() == errors_before {
            blocks.builds.push(build);
        }
    }

    fn build_sources(&mut self, attr: &Attribute, build: &mut BuildDef) {
        let items = match &attr.value {
            hcl_edit::expr::Expression::Array(items) => items,
            _ => {
                self.error(
                    "Invalid sources: a list of source references is required",
                    self.span(&attr.value),
                    "write sources = [\"source.TYPE.NAME\"]",
                );
                return;
            }
        };
        for item in items.iter() {
            let span = self.span(item);
            match item {
                hcl_edit::expr::Expression::String(s) => match source_ref(s.value()) {
                    Some((kind, name)) => build.sources.push(SourceUse {
                        kind,
                        name,
                        local_name: None,
                        addition: None,
                        span,
                    }),
                    None => self.invalid_source_reference(span),
                },
                _ => self.error(
                    "Invalid sources: each item must be a string literal",
                    span,
                    "write sources = [\"source.TYPE.NAME\"]",
                ),
            }
        }
    }

    fn invalid_source_reference(&mut self, span: Span) {
        self.error(
            "Invalid source reference: a source reference is made of three parts split by a dot",
            span,
            "each part must start with a letter and may contain only letters, digits, underscores, and dashes: `source.TYPE.NAME`",
        );
    }

    fn build_source(&mut self, block: &Block, build: &mut BuildDef) {
        if !self.labels(block, &["reference"]) {
            return;
        }
        let span = self.span(block);
        let Some((kind, name)) = source_ref(block.labels[0].as_str()) else {
            // Packer reads the label without the `source.` prefix check here: "type.name".
            self.invalid_source_reference(span);
            return;
        };
        let mut local_name = None;
        let mut addition = BodyDef::default();
        let full = self.body(&block.body);
        for attr in full.attributes {
            if attr.key == "name" {
                match &attr.value.expr {
                    hcl::Expression::String(s) => local_name = Some(s.clone()),
                    _ => self.error(
                        "Invalid source name: a string literal is required",
                        attr.value.span,
                        "variables are not allowed here",
                    ),
                }
            } else {
                addition.attributes.push(attr);
            }
        }
        addition.blocks = full.blocks;
        build.sources.push(SourceUse {
            kind,
            name,
            local_name,
            addition: Some(addition),
            span,
        });
    }

    /// A provisioner (`provisioner = true`) or post-processor block: Packer's own attributes taken
    /// out, the rest kept for the plugin.
    fn plugin(&mut self, block: &Block, provisioner: bool) -> Option<PluginDef> {
        if !self.labels(block, &["type"]) {
            return None;
        }
        let kind = block.labels[0].as_str().to_string();
        let kind_span = self.span(&block.labels[0]);
        let section = if provisioner {
            imgs_template::schema::Section::Provisioner
        } else {
            imgs_template::schema::Section::PostProcessor
        };
        let noun = section.noun();
        let mut def = PluginDef {
            kind: kind.clone(),
            name: None,
            only: Vec::new(),
            except: Vec::new(),
            pause_before: None,
            max_retries: None,
            timeout: None,
            overrides: None,
            keep_input_artifact: None,
            body: BodyDef::default(),
            span: self.span(block),
        };
        let errors_before = self.errors.len();
        let full = self.body(&block.body);
        for attr in full.attributes {
            match (attr.key.as_str(), provisioner) {
                ("name", _) => def.name = self.literal(&attr, "name"),
                ("only", _) => def.only = self.literal_list(&attr),
                ("except", _) => def.except = self.literal_list(&attr),
                ("pause_before", true) => def.pause_before = Some(attr.value),
                ("max_retries", true) => def.max_retries = Some(attr.value),
                ("timeout", true) => def.timeout = Some(attr.value),
                ("override", true) => def.overrides = Some(attr.value),
                ("keep_input_artifact", false) => match &attr.value.expr {
                    hcl::Expression::Bool(b) => def.keep_input_artifact = Some(*b),
                    _ => self.error(
                        "Invalid keep_input_artifact: a bool literal is required",
                        attr.value.span,
                        "write keep_input_artifact = true",
                    ),
                },
                _ => def.body.attributes.push(attr),
            }
        }
        def.body.blocks = full.blocks;
        if !def.only.is_empty() && !def.except.is_empty() {
            self.error(
                "only one of 'only' or 'except' may be specified",
                def.span,
                format!("keep `only` or `except` on this {noun}, not both"),
            );
        }
        // imgs's own types (`upload`) are known too: imgs builds the configuration, not Packer.
        if !imgs_template::schema::known_type(section, &kind) {
            self.error(
                format!("Unknown {noun} type \"{kind}\""),
                kind_span,
                format!("the {noun} types of Packer 1.6.6 are known; check the spelling"),
            );
        }
        (self.errors.len() == errors_before).then_some(def)
    }

    /// A string Packer decodes without variables (post-processor `name`; provisioner `name` too).
    fn literal(&mut self, attr: &AttrDef, what: &str) -> Option<String> {
        match &attr.value.expr {
            hcl::Expression::String(s) => Some(s.clone()),
            _ => {
                self.error(
                    format!("Invalid {what}: a string literal is required"),
                    attr.value.span,
                    "variables are not allowed here",
                );
                None
            }
        }
    }

    fn literal_list(&mut self, attr: &AttrDef) -> Vec<String> {
        let items = match &attr.value.expr {
            hcl::Expression::Array(items) => items,
            _ => {
                self.error(
                    format!("Invalid {}: a list of strings is required", attr.key),
                    attr.value.span,
                    format!("write {} = [\"TYPE.NAME\"]", attr.key),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for item in items {
            match item {
                hcl::Expression::String(s) => out.push(s.clone()),
                _ => self.error(
                    format!("Invalid {}: each item must be a string literal", attr.key),
                    attr.value.span,
                    "variables are not allowed here",
                ),
            }
        }
        out
    }
}

/// `source.TYPE.NAME` (as in `sources = [...]`) or `TYPE.NAME` (a build's `source` block label).
fn source_ref(text: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = text.split('.').collect();
    let (kind, name) = match parts.as_slice() {
        ["source", kind, name] => (*kind, *name),
        [kind, name] => (*kind, *name),
        _ => return None,
    };
    (valid_identifier(kind) && valid_identifier(name)).then(|| (kind.to_string(), name.to_string()))
}

/// HCL's identifier rule: a letter or underscore, then letters, digits, underscores and dashes.
pub(crate) fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// Packer's test for a validation message: starts with an uppercase letter (or a character with no
/// case) and ends with a period or question mark.
fn looks_like_sentences(s: &str) -> bool {
    let s = s.trim();
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    !first.is_lowercase() && (last == '.' || last == '?')
}

/// The files of a directory Packer reads as a configuration, and its variable files, by name.
pub fn classify(name: &str) -> Option<FileRole> {
    if name.ends_with(".auto.pkrvars.hcl") {
        Some(FileRole::AutoVariables)
    } else if name.ends_with(".pkrvars.hcl") {
        Some(FileRole::Variables)
    } else if name.ends_with(".pkr.hcl") {
        Some(FileRole::Config)
    } else {
        None
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileRole {
    /// `*.pkr.hcl`: part of the configuration.
    Config,
    /// `*.auto.pkrvars.hcl`: variable values read with the configuration.
    AutoVariables,
    /// `*.pkrvars.hcl`: variable values read only when named with `-var-file`.
    Variables,
}
