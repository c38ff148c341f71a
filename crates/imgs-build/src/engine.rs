//! Which engine runs a build: imgs natively when it runs every type the build uses (its builder,
//! provisioners and post-processors), else the installed `packer`; Images.toml can ask for either.

use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_template::schema::Section;
use imgs_template::{BuilderBlock, Engine, EngineChoice, Template};

use crate::registry;

/// The engine of one build, and why when it is Packer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineDecision {
    pub engine: Engine,
    /// Why Packer runs the build: "imgs does not run the `virtualbox-iso` builder", or "asked
    /// for in Images.toml".
    pub reason: Option<String>,
}

/// A type a build uses that imgs does not run itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignType {
    pub section: Section,
    pub kind: String,
    /// Where in the template: `builders[0]`, `provisioners[2]`, `post-processors[1][0]`.
    pub key: String,
}

impl ForeignType {
    /// "the `virtualbox-iso` builder".
    pub fn described(&self) -> String {
        format!("the `{}` {}", self.kind, self.section.noun())
    }
}

/// The types the build of `block` uses that imgs does not run, in template order.
pub fn foreign_types(template: &Template, block: &BuilderBlock) -> Vec<ForeignType> {
    let mut found = Vec::new();
    if registry::builder_type(&block.kind).is_none() {
        let index = template
            .builders
            .iter()
            .position(|b| std::ptr::eq(b, block))
            .unwrap_or_default();
        found.push(ForeignType {
            section: Section::Builder,
            kind: block.kind.clone(),
            key: format!("builders[{index}]"),
        });
    }
    for (key, provisioner) in template.provisioners_for(&block.name) {
        if !imgs_provision::runs_natively(&provisioner.kind) {
            found.push(ForeignType {
                section: Section::Provisioner,
                kind: provisioner.kind.clone(),
                key,
            });
        }
    }
    for (i, chain) in template.post_processors.iter().enumerate() {
        for (j, post) in chain.iter().enumerate() {
            if post.applies_to(&block.name) && registry::post_processor_type(&post.kind).is_none() {
                found.push(ForeignType {
                    section: Section::PostProcessor,
                    kind: post.kind.clone(),
                    key: template.post_processor_key(i, j),
                });
            }
        }
    }
    found
}

/// Decides the engine of the build of `block` given what Images.toml asks; `Err` holds the types
/// imgs does not run when `native` was asked for.
pub fn decide(
    template: &Template,
    block: &BuilderBlock,
    choice: EngineChoice,
) -> Result<EngineDecision, Vec<ForeignType>> {
    let foreign = foreign_types(template, block);
    match choice {
        EngineChoice::Packer => Ok(EngineDecision {
            engine: Engine::Packer,
            reason: Some("engine = \"packer\" in Images.toml".into()),
        }),
        EngineChoice::Native if !foreign.is_empty() => Err(foreign),
        _ if foreign.is_empty() => Ok(EngineDecision {
            engine: Engine::Native,
            reason: None,
        }),
        _ => Ok(EngineDecision {
            engine: Engine::Packer,
            reason: Some(format!("imgs does not run {}", and_listed(&foreign))),
        }),
    }
}

/// "the `a` builder, the `b` provisioner and the `c` post-processor", each type once.
fn and_listed(foreign: &[ForeignType]) -> String {
    let mut described: Vec<String> = Vec::new();
    for f in foreign {
        let d = f.described();
        if !described.contains(&d) {
            described.push(d);
        }
    }
    match described.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// [`decide`], with `engine = "native"` for a build using types imgs does not run reported as one
/// located error per such type, and so is a build Packer is to run that uses a type only imgs has
/// (an imgs extension such as `upload`: Packer would refuse the template). `build` is the build's
/// rendered name, for messages.
pub fn decide_located(
    template: &Template,
    block: &BuilderBlock,
    build: &str,
    choice: EngineChoice,
) -> Result<EngineDecision, Diagnostics> {
    let decision = decide(template, block, choice)
        .map_err(|foreign| native_refused(template, build, &foreign))?;
    if decision.engine == Engine::Packer {
        let refused = extensions_for_packer(template, block, build, &decision);
        if !refused.0.is_empty() {
            return Err(refused);
        }
    }
    Ok(decision)
}

/// One error per block of the build of `block` whose type is an imgs extension, when Packer is to
/// run the build (`decision` says why).
fn extensions_for_packer(
    template: &Template,
    block: &BuilderBlock,
    build: &str,
    decision: &EngineDecision,
) -> Diagnostics {
    let why = decision.reason.as_deref().unwrap_or("the packer engine");
    let mut found = Vec::new();
    for (i, chain) in template.post_processors.iter().enumerate() {
        for (j, post) in chain.iter().enumerate() {
            if post.applies_to(&block.name)
                && imgs_template::schema::is_extension(Section::PostProcessor, &post.kind)
            {
                found.push(
                    Diagnostic::error(format!(
                        "build `{build}` is built by Packer ({why}), which has no `{}` post-processor: it is an imgs extension",
                        post.kind
                    ))
                    .at(template.location(post.span.start))
                    .key(template.post_processor_key(i, j))
                    .hint("imgs runs its extensions only in builds it runs itself: move the build's other types to ones imgs runs, or limit this post-processor to other builds with `only`/`except`"),
                );
            }
        }
    }
    Diagnostics(found)
}

/// `engine = "native"` for a build using types imgs does not run: one error per type, located.
fn native_refused(template: &Template, build: &str, foreign: &[ForeignType]) -> Diagnostics {
    Diagnostics(
        foreign
            .iter()
            .map(|f| {
                let offset = block_offset(template, &f.key);
                Diagnostic::error(format!(
                    "build `{build}` is to be built natively (engine = \"native\"), but imgs does not run {}",
                    f.described()
                ))
                .at(template.location(offset))
                .key(f.key.clone())
                .hint("leave `engine` at \"auto\" (or set \"packer\") to have the installed Packer build it")
            })
            .collect(),
    )
}

/// Where the block a key like `provisioners[2]` names starts in the template.
fn block_offset(template: &Template, key: &str) -> usize {
    let index = |text: &str| text.trim_end_matches(']').parse::<usize>().ok();
    let parts: Vec<&str> = key.split('[').collect();
    match parts.as_slice() {
        ["builders", i] => index(i)
            .and_then(|i| template.builders.get(i))
            .map(|b| b.span.start),
        ["provisioners", i] => index(i)
            .and_then(|i| template.provisioners.get(i))
            .map(|p| p.span.start),
        ["error-cleanup-provisioner"] => template
            .error_cleanup_provisioner
            .as_ref()
            .map(|p| p.span.start),
        ["post-processors", i] => index(i)
            .and_then(|i| template.post_processors.get(i))
            .and_then(|c| c.first())
            .map(|p| p.span.start),
        ["post-processors", i, j] => index(i)
            .and_then(|i| template.post_processors.get(i))
            .and_then(|c| index(j).and_then(|j| c.get(j)))
            .map(|p| p.span.start),
        _ => None,
    }
    .unwrap_or_default()
}
