//! Builds the installed `packer` runs (see [`crate::engine`]).
//!
//! Packer is given the member's template with what imgs adds to every build it runs itself, and
//! nothing else changed:
//!
//! - in a workspace, outputs are placed as imgs places its own (see [`crate::outputs`]): a
//!   builder's `output_directory` or a file builder's `target` inside `cache/artifacts/<image>/`
//!   goes to the build's version directory, and so does one left at Packer's default
//!   (`output-<build>`), as do post-processor outputs left at their default names;
//! - resources an `amazon-*` builder creates carry imgs's tags (`imgs:run` and `imgs:image`, and on
//!   AMIs `imgs:fingerprint`), so the plan finds its AMIs by fingerprint and `imgs gc` finds what
//!   an interrupted run left; the volumes `amazon-ebsvolume` makes (its artifact) carry
//!   `imgs:image` and `imgs:fingerprint` but not `imgs:run`, which `imgs gc` would remove;
//! - an HCL2 configuration is given as the JSON template imgs lowered it to (every expression
//!   already evaluated for this invocation), so both engines build from the same values.
//!
//! The template is written beside the member's own (so `{{template_dir}}` means the same
//! directory) under a hidden name, and removed when the build ends; variable values go in a
//! private `-var-file`.

use std::path::{Path, PathBuf};

use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_provision::Secrets;
use imgs_template::interpolate::{self, Context};
use imgs_template::json::{Node, Value};
use imgs_template::{ResolvedVariables, Template};
use serde_json::{Map, Value as Json, json};
use tokio_util::sync::CancellationToken;

use crate::builder::Log;
use crate::outputs::OutputPlacement;
use crate::prepare::RunLabels;
use crate::{Artifact, BuildError, OnError};

/// Builder types of Packer 1.6.6 whose `output_directory` defaults to `output-<build name>`.
const OUTPUT_DIRECTORY_BUILDERS: &[&str] = &[
    "hyperv-iso",
    "hyperv-vmcx",
    "lxc",
    "parallels-iso",
    "parallels-pvm",
    "qemu",
    "vagrant",
    "virtualbox-iso",
    "virtualbox-ovf",
    "virtualbox-vm",
    "vmware-iso",
    "vmware-vmx",
];

/// Post-processor types of Packer 1.6.6 with a default `output`, and that default.
const DEFAULT_OUTPUTS: &[(&str, &str)] = &[
    ("checksum", imgs_post::checksum::DEFAULT_OUTPUT),
    ("compress", imgs_post::compress::DEFAULT_OUTPUT),
    ("manifest", "packer-manifest.json"),
    ("vagrant", imgs_post::vagrant::DEFAULT_OUTPUT),
];

/// What a build run by Packer needs, read before it starts.
pub(crate) struct PackerBuild {
    packer: imgs_packer::Packer,
    /// Why Packer runs it, said at the start of its log.
    reason: String,
    template_json: String,
    /// Where the template is written: the member's template directory.
    template_dir: PathBuf,
    /// The `-var-file` contents, for a JSON template.
    var_file: Option<String>,
    /// The build's name as `-only` takes it.
    build_name: String,
    builder_type: String,
    working_dir: PathBuf,
    secrets: Secrets,
    run_id: String,
    /// Set in Packer's environment.
    env: Vec<(String, String)>,
}

impl std::fmt::Debug for PackerBuild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackerBuild")
            .field("build_name", &self.build_name)
            .field("packer", &self.packer.path)
            .finish_non_exhaustive()
    }
}

/// What [`prepare`] needs to know of the build.
pub(crate) struct PackerInput<'a> {
    pub(crate) template: &'a Template,
    pub(crate) builder_index: usize,
    pub(crate) build_name: &'a str,
    pub(crate) variables: &'a ResolvedVariables,
    pub(crate) ctx: &'a Context<'a>,
    pub(crate) working_dir: &'a Path,
    pub(crate) outputs: Option<&'a OutputPlacement>,
    pub(crate) labels: &'a RunLabels,
    pub(crate) reason: String,
}

/// Finds Packer and makes the template it will run; a missing or too old `packer` is a located
/// error, before anything starts.
pub(crate) fn prepare(input: &PackerInput<'_>) -> Result<PackerBuild, Diagnostics> {
    let template = input.template;
    let block = &template.builders[input.builder_index];
    let packer = imgs_packer::find().map_err(|e| {
        let mut d = Diagnostic::error(format!(
            "build `{}` needs Packer ({}), but {e}",
            input.build_name, input.reason
        ))
        .at(template.location(block.span.start))
        .key(format!("builders[{}]", input.builder_index));
        if let Some(hint) = e.hint() {
            d = d.hint(hint);
        }
        Diagnostics::from(d)
    })?;
    let json = derive(input);
    let var_file = var_file_text(template, input.variables);
    Ok(PackerBuild {
        packer,
        reason: input.reason.clone(),
        template_json: serde_json::to_string_pretty(&json).expect("JSON values serialize"),
        template_dir: template.template_dir(input.working_dir),
        var_file,
        build_name: input.build_name.to_string(),
        builder_type: block.kind.clone(),
        working_dir: input.working_dir.to_path_buf(),
        secrets: Secrets::of_sensitive_variables(input.variables),
        run_id: input.labels.run_id.clone(),
        env: packer_cache_dir(input.outputs),
    })
}

/// In a workspace, Packer's download cache (ISOs, boxes) lives in imgs's `cache/packer` rather
/// than a `packer_cache` directory at the workspace root, unless the environment already chose one.
fn packer_cache_dir(outputs: Option<&OutputPlacement>) -> Vec<(String, String)> {
    const VAR: &str = "PACKER_CACHE_DIR";
    if std::env::var_os(VAR).is_some() {
        return Vec::new();
    }
    // `<workspace>/cache/artifacts/<image>`: two levels up is the cache directory.
    outputs
        .and_then(|o| {
            o.image_dir
                .parent()?
                .parent()
                .map(|cache| cache.join("packer"))
        })
        .map(|dir| vec![(VAR.to_string(), dir.display().to_string())])
        .unwrap_or_default()
}

/// The template Packer runs: the member's, with imgs's placements and tags for this build.
pub(crate) fn derive(input: &PackerInput<'_>) -> Json {
    let template = input.template;
    let mut root = base_json(template);
    let block = &template.builders[input.builder_index];
    if let Some(builder) = root
        .get_mut("builders")
        .and_then(Json::as_array_mut)
        .and_then(|b| b.get_mut(input.builder_index))
        .and_then(Json::as_object_mut)
    {
        if let Some(outputs) = input.outputs {
            place_builder_outputs(builder, &block.kind, input, outputs);
        }
        add_tags(builder, &block.kind, input.labels);
    }
    if let Some(outputs) = input.outputs {
        place_post_processor_outputs(&mut root, template, &block.name, input, outputs);
    }
    root
}

fn place_builder_outputs(
    builder: &mut Map<String, Json>,
    kind: &str,
    input: &PackerInput<'_>,
    outputs: &OutputPlacement,
) {
    let place = |written: &str| {
        let rendered = render(written, input.ctx);
        outputs
            .place(input.working_dir, Path::new(&rendered))
            .display()
            .to_string()
    };
    let mut keys: Vec<&str> = Vec::new();
    if OUTPUT_DIRECTORY_BUILDERS.contains(&kind) {
        keys.push("output_directory");
    }
    if kind == "file" {
        keys.push("target");
    }
    for key in keys {
        match key_of(builder, key) {
            Some(found) => {
                if let Some(written) = builder[&found].as_str().map(str::to_string) {
                    builder.insert(found, Json::String(place(&written)));
                }
            }
            None if key == "output_directory" => {
                let placed = outputs.default_output(input.working_dir, Path::new(""));
                builder.insert(key.into(), Json::String(placed.display().to_string()));
            }
            None => {}
        }
    }
}

fn place_post_processor_outputs(
    root: &mut Json,
    template: &Template,
    build: &str,
    input: &PackerInput<'_>,
    outputs: &OutputPlacement,
) {
    let Some(chains) = root.get_mut("post-processors").and_then(Json::as_array_mut) else {
        return;
    };
    for (i, chain) in template.post_processors.iter().enumerate() {
        for (j, post) in chain.iter().enumerate() {
            if !post.applies_to(build) {
                continue;
            }
            let Some(entry) = chains.get_mut(i) else {
                continue;
            };
            // A chain is a list, or one post-processor written alone; either may be a bare name.
            let slot = match entry {
                Json::Array(list) => list.get_mut(j),
                other if j == 0 => Some(other),
                _ => None,
            };
            let Some(slot) = slot else { continue };
            if let Json::String(kind) = slot {
                *slot = json!({ "type": kind.clone() });
            }
            let Some(object) = slot.as_object_mut() else {
                continue;
            };
            match key_of(object, "output") {
                Some(found) => {
                    if let Some(written) = object[&found].as_str().map(str::to_string) {
                        let rendered = render(&written, input.ctx);
                        let placed = outputs.place(input.working_dir, Path::new(&rendered));
                        object.insert(found, Json::String(placed.display().to_string()));
                    }
                }
                None => {
                    if let Some((_, default)) =
                        DEFAULT_OUTPUTS.iter().find(|(k, _)| *k == post.kind)
                    {
                        let placed = outputs.default_output(input.working_dir, Path::new(default));
                        object.insert("output".into(), Json::String(placed.display().to_string()));
                    }
                }
            }
        }
    }
}

/// imgs's tags on what an `amazon-*` builder creates, over the template's own.
fn add_tags(builder: &mut Map<String, Json>, kind: &str, labels: &RunLabels) {
    if !kind.starts_with("amazon-") {
        return;
    }
    let mut run = Map::new();
    run.insert(
        imgs_aws::TAG_RUN.into(),
        Json::String(labels.run_id.clone()),
    );
    run.insert(
        imgs_aws::TAG_IMAGE.into(),
        Json::String(labels.image.clone()),
    );
    let mut image = run.clone();
    if let Some(fingerprint) = &labels.fingerprint {
        image.insert(
            imgs_aws::TAG_FINGERPRINT.into(),
            Json::String(fingerprint.clone()),
        );
    }
    let (image_keys, run_keys): (&[&str], &[&str]) = match kind {
        "amazon-ebs" | "amazon-ebssurrogate" => {
            (&["tags"], &["run_tags", "run_volume_tags", "snapshot_tags"])
        }
        "amazon-instance" => (&["tags"], &["run_tags"]),
        "amazon-chroot" => (&["tags"], &["snapshot_tags"]),
        "amazon-ebsvolume" => (&[], &["run_tags"]),
        _ => (&[], &[]),
    };
    for (keys, tags) in [(image_keys, &image), (run_keys, &run)] {
        for key in keys {
            merge_tags(builder, key, tags);
        }
    }
    if kind == "amazon-ebsvolume"
        && let Some(volumes) = key_of(builder, "ebs_volumes")
            .and_then(|k| builder.get_mut(&k))
            .and_then(Json::as_array_mut)
    {
        // The volumes are the artifact: no `imgs:run`, which would make `imgs gc` remove them as
        // something a run left behind.
        let mut artifact = image.clone();
        artifact.remove(imgs_aws::TAG_RUN);
        for volume in volumes.iter_mut().filter_map(Json::as_object_mut) {
            merge_tags(volume, "tags", &artifact);
        }
    }
}

fn merge_tags(object: &mut Map<String, Json>, key: &str, tags: &Map<String, Json>) {
    let found = key_of(object, key).unwrap_or_else(|| key.to_string());
    let entry = object
        .entry(found)
        .or_insert_with(|| Json::Object(Map::new()));
    if entry.is_null() {
        *entry = Json::Object(Map::new());
    }
    if let Some(map) = entry.as_object_mut() {
        map.extend(tags.clone());
    }
}

/// The key of `object` Packer's decoder reads as `key`: exactly, else ignoring case.
fn key_of(object: &Map<String, Json>, key: &str) -> Option<String> {
    if object.contains_key(key) {
        return Some(key.to_string());
    }
    object.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// `text` rendered with the build's context, or as written when it needs data only the build has.
fn render(text: &str, ctx: &Context<'_>) -> String {
    interpolate::render(text, ctx).map_or_else(|_| text.to_string(), |r| r.text)
}

/// The template as Packer JSON: a JSON template as written, an HCL2 configuration as lowered.
fn base_json(template: &Template) -> Json {
    if template.is_hcl() {
        lowered_json(template)
    } else {
        template.root.to_serde()
    }
}

/// What `packer validate` said of the parts of a template imgs has no settings for.
#[derive(Debug)]
pub enum ForeignCheck {
    /// imgs knows every type the selected builds use.
    NothingForeign,
    /// Packer's problems, each located at the build it names (empty: Packer found none).
    Checked(Vec<Diagnostic>),
    /// Packer could not be run; `types` are the types left unchecked (`the \`vagrant\` post-processor`).
    NotRun {
        error: imgs_packer::PackerError,
        types: Vec<String>,
    },
}

/// Asks `packer validate` about the builder and post-processor types of the selected builds that
/// imgs has no settings for (imgs validates every other part itself). Packer is given a template
/// of those parts alone: the builds using such types, and of the post-processors only such types,
/// so what it reports is about what imgs did not check.
pub fn validate_foreign(
    template: &Template,
    variables: &ResolvedVariables,
    working_dir: &Path,
    filter: &imgs_template::BuildFilter,
) -> ForeignCheck {
    use imgs_template::schema::{self, Section};
    let foreign_builder = |kind: &str| schema::lookup(Section::Builder, kind).is_none();
    let foreign_post = |kind: &str| schema::lookup(Section::PostProcessor, kind).is_none();
    let scope = imgs_template::interpolate::RenderScope::new(
        template,
        working_dir,
        &variables.values,
        imgs_template::interpolate::Volatile::Real {
            init_time: chrono::Utc::now(),
        },
    );
    let mut kept = Vec::new();
    let mut types: Vec<String> = Vec::new();
    for (index, block) in template.builders.iter().enumerate() {
        let name = scope.build_name(block);
        if !filter.selects(&name) {
            continue;
        }
        let posts: Vec<&str> = template
            .post_processors
            .iter()
            .flatten()
            .filter(|p| p.applies_to(&block.name) && foreign_post(&p.kind))
            .map(|p| p.kind.as_str())
            .collect();
        if foreign_builder(&block.kind) {
            types.push(format!("the `{}` builder", block.kind));
        }
        for kind in &posts {
            types.push(format!("the `{kind}` post-processor"));
        }
        if foreign_builder(&block.kind) || !posts.is_empty() {
            kept.push((index, block.name.clone(), name));
        }
    }
    types.dedup();
    let checked = match types.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => types.join(""),
    };
    if kept.is_empty() {
        return ForeignCheck::NothingForeign;
    }
    let packer = match imgs_packer::find() {
        Ok(packer) => packer,
        Err(error) => return ForeignCheck::NotRun { error, types },
    };
    let mut root = base_json(template);
    let raw_names: Vec<&str> = kept.iter().map(|(_, raw, _)| raw.as_str()).collect();
    if let Some(object) = root.as_object_mut() {
        if let Some(builders) = object.get_mut("builders").and_then(Json::as_array_mut) {
            let mut index = 0;
            builders.retain(|_| {
                let keep = kept.iter().any(|(i, _, _)| *i == index);
                index += 1;
                keep
            });
        }
        object.remove("provisioners");
        object.remove("error-cleanup-provisioner");
        if let Some(chains) = object.remove("post-processors").and_then(|c| match c {
            Json::Array(chains) => Some(chains),
            _ => None,
        }) {
            let kept_chains: Vec<Json> = chains
                .into_iter()
                .flat_map(|chain| match chain {
                    Json::Array(list) => list,
                    one => vec![one],
                })
                .filter_map(|post| foreign_post_only(post, &raw_names, &foreign_post))
                .map(|post| Json::Array(vec![post]))
                .collect();
            if !kept_chains.is_empty() {
                object.insert("post-processors".into(), Json::Array(kept_chains));
            }
        }
    }
    let var_file = var_file_text(template, variables);
    let secrets = Secrets::of_sensitive_variables(variables);
    let template_path = template.template_dir(working_dir).join(format!(
        ".imgs-validate-{}-{}.json",
        std::process::id(),
        VALIDATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let not_run = |reason: String| ForeignCheck::NotRun {
        error: imgs_packer::PackerError::Spawn {
            program: packer.path.display().to_string(),
            reason,
        },
        types: types.clone(),
    };
    let text = serde_json::to_string_pretty(&root).expect("JSON values serialize");
    let files = match PackerFiles::write(template_path, &text, var_file.as_deref()) {
        Ok(files) => files,
        Err((what, e)) => return not_run(format!("cannot write {what}: {e}")),
    };
    let invocation = imgs_packer::Invocation {
        working_dir: working_dir.to_path_buf(),
        template: files.template().to_path_buf(),
        var_file: files.var_file(),
        only: Vec::new(),
        on_error_abort: false,
        env: Vec::new(),
        read_at_start: Vec::new(),
    };
    let mask = |line: &str| secrets.mask(line);
    match imgs_packer::validate(&packer, &invocation, &mask) {
        Err(error) => ForeignCheck::NotRun { error, types },
        Ok(problems) => ForeignCheck::Checked(
            problems
                .into_iter()
                .map(|problem| {
                    let at = problem
                        .build
                        .as_deref()
                        .and_then(|name| kept.iter().find(|(_, _, n)| n == name));
                    let mut d = Diagnostic::error(problem.message);
                    d = match at {
                        Some((index, _, _)) => d
                            .at(template.location(template.builders[*index].span.start))
                            .key(format!("builders[{index}]")),
                        None => d.in_file(&template.path),
                    };
                    d.hint(format!(
                        "reported by `packer validate` (Packer {}), which checks {} for imgs",
                        packer.version, checked
                    ))
                })
                .collect(),
        ),
    }
}

/// Numbers the validation templates of one process, which may validate several images at once.
static VALIDATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A post-processor of a validation template: kept only when imgs has no settings for its type,
/// with `only`/`except` narrowed to the builds the template keeps (dropped when none is left).
fn foreign_post_only(post: Json, builds: &[&str], foreign: &dyn Fn(&str) -> bool) -> Option<Json> {
    let mut object = match post {
        Json::String(kind) => return foreign(&kind).then(|| json!({ "type": kind })),
        Json::Object(object) => object,
        _ => return None,
    };
    let kind = object.get("type").and_then(Json::as_str)?.to_string();
    if !foreign(&kind) {
        return None;
    }
    for key in ["only", "except"] {
        if let Some(Json::Array(names)) = object.get_mut(key) {
            let before = names.len();
            names.retain(|n| n.as_str().is_some_and(|n| builds.contains(&n)));
            if key == "only" && before > 0 && names.is_empty() {
                return None;
            }
            if names.is_empty() {
                object.remove(key);
            }
        }
    }
    Some(Json::Object(object))
}

/// The `-var-file` Packer is given for a JSON template: every declared variable's value.
fn var_file_text(template: &Template, variables: &ResolvedVariables) -> Option<String> {
    (!template.is_hcl()).then(|| {
        let values: Map<String, Json> = variables
            .values
            .iter()
            .filter(|(name, _)| template.variables.contains_key(*name))
            .map(|(name, value)| (name.clone(), Json::String(value.clone())))
            .collect();
        serde_json::to_string_pretty(&Json::Object(values)).expect("strings serialize")
    })
}

/// A lowered HCL2 configuration as a Packer JSON template.
fn lowered_json(template: &Template) -> Json {
    let named = |kind: &str, config: &Node, extra: Vec<(&str, Json)>| {
        let mut object = Map::new();
        object.insert("type".into(), Json::String(kind.to_string()));
        for (key, value) in extra {
            object.insert(key.into(), value);
        }
        if let Value::Object(members) = &config.value {
            for member in members {
                object.insert(member.key.clone(), member.value.to_serde());
            }
        }
        Json::Object(object)
    };
    let strings = |list: &[String]| -> Option<Json> {
        (!list.is_empty()).then(|| Json::Array(list.iter().cloned().map(Json::String).collect()))
    };
    let provisioner = |p: &imgs_template::ProvisionerBlock| {
        let mut extra = Vec::new();
        extra.extend(strings(&p.only).map(|v| ("only", v)));
        extra.extend(strings(&p.except).map(|v| ("except", v)));
        if !p.overrides.is_empty() {
            let overrides: Map<String, Json> = p
                .overrides
                .iter()
                .map(|(k, v)| (k.clone(), v.to_serde()))
                .collect();
            extra.push(("override", Json::Object(overrides)));
        }
        if let Some(pause) = &p.pause_before {
            extra.push(("pause_before", Json::String(pause.clone())));
        }
        if let Some(text) = &p.max_retries_text {
            extra.push(("max_retries", Json::String(text.clone())));
        } else if let Some(n) = p.max_retries {
            extra.push(("max_retries", json!(n)));
        }
        if let Some(timeout) = &p.timeout {
            extra.push(("timeout", Json::String(timeout.clone())));
        }
        named(&p.kind, &p.config, extra)
    };
    let builders: Vec<Json> = template
        .builders
        .iter()
        .map(|b| {
            named(
                &b.kind,
                &b.config,
                vec![("name", Json::String(b.name.clone()))],
            )
        })
        .collect();
    let provisioners: Vec<Json> = template.provisioners.iter().map(provisioner).collect();
    let chains: Vec<Json> = template
        .post_processors
        .iter()
        .map(|chain| {
            Json::Array(
                chain
                    .iter()
                    .map(|p| {
                        let mut extra = Vec::new();
                        if p.name != p.kind {
                            extra.push(("name", Json::String(p.name.clone())));
                        }
                        extra.extend(strings(&p.only).map(|v| ("only", v)));
                        extra.extend(strings(&p.except).map(|v| ("except", v)));
                        if let Some(keep) = p.keep_input_artifact {
                            extra.push(("keep_input_artifact", Json::Bool(keep)));
                        }
                        named(&p.kind, &p.config, extra)
                    })
                    .collect(),
            )
        })
        .collect();
    let mut root = Map::new();
    root.insert("builders".into(), Json::Array(builders));
    if !provisioners.is_empty() {
        root.insert("provisioners".into(), Json::Array(provisioners));
    }
    if !chains.is_empty() {
        root.insert("post-processors".into(), Json::Array(chains));
    }
    if let Some(cleanup) = &template.error_cleanup_provisioner {
        root.insert("error-cleanup-provisioner".into(), provisioner(cleanup));
    }
    Json::Object(root)
}

/// A file removed when dropped.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The files one Packer run reads, removed when dropped: the template, written beside the member's
/// (so `{{template_dir}}` is the same directory), and the `-var-file` in a private temporary file.
struct PackerFiles {
    template: Removed,
    var_file: Option<tempfile::NamedTempFile>,
}

impl PackerFiles {
    /// Writes both; `Err` names what could not be written.
    fn write(
        template_path: PathBuf,
        template_json: &str,
        var_file: Option<&str>,
    ) -> Result<PackerFiles, (String, std::io::Error)> {
        write_private(&template_path, template_json)
            .map_err(|e| (template_path.display().to_string(), e))?;
        let template = Removed(template_path);
        let var_file = var_file
            .map(|text| {
                let file = tempfile::Builder::new()
                    .prefix("imgs-packer-vars-")
                    .suffix(".json")
                    .tempfile()?;
                std::fs::write(file.path(), text)?;
                Ok(file)
            })
            .transpose()
            .map_err(|e| ("a variables file for Packer".to_string(), e))?;
        Ok(PackerFiles { template, var_file })
    }

    fn template(&self) -> &Path {
        &self.template.0
    }

    fn var_file(&self) -> Option<PathBuf> {
        self.var_file.as_ref().map(|f| f.path().to_path_buf())
    }
}

impl PackerBuild {
    /// Runs `packer build` for this build and returns its artifact: Packer's first (the builder's
    /// when it was kept, else the first post-processor chain's result), as imgs's own builds do.
    pub(crate) async fn run(
        &self,
        log: Log<'_>,
        on_error: OnError,
        cancel: &CancellationToken,
    ) -> Result<Artifact, BuildError> {
        log.phase("packer build");
        log.line(&format!(
            "Building with Packer {} ({})",
            self.packer.version, self.reason
        ));
        let template_path = self.template_dir.join(format!(
            ".imgs-packer-{}-{}.json",
            self.run_id,
            std::process::id()
        ));
        let files =
            PackerFiles::write(template_path, &self.template_json, self.var_file.as_deref())
                .map_err(|(what, e)| BuildError::Io {
                    action: "write",
                    path: what,
                    reason: e.to_string(),
                })?;
        let invocation = imgs_packer::Invocation {
            working_dir: self.working_dir.clone(),
            template: files.template().to_path_buf(),
            var_file: files.var_file(),
            only: vec![self.build_name.clone()],
            on_error_abort: on_error == OnError::Abort,
            env: self.env.clone(),
            read_at_start: std::iter::once(files.template().to_path_buf())
                .chain(files.var_file())
                .collect(),
        };
        let secrets = &self.secrets;
        let mask = |line: &str| secrets.mask(line);
        let built = imgs_packer::build(&self.packer, &invocation, log, &mask, cancel)
            .await
            .map_err(|e| match e {
                imgs_packer::PackerError::Cancelled => BuildError::Cancelled,
                other => BuildError::Packer(other),
            })?;
        let Some(first) = built.artifacts.into_iter().next() else {
            return Err(BuildError::Packer(imgs_packer::PackerError::BuildFailed {
                status: "0".into(),
                errors: vec![format!(
                    "build `{}` made no artifact (was it selected by -only?)",
                    self.build_name
                )],
            }));
        };
        Ok(Artifact {
            builder_type: self.builder_type.clone(),
            id: first.id,
            description: first.description,
            files: first.files.into_iter().map(PathBuf::from).collect(),
            docker_tags: Vec::new(),
        })
    }
}

/// Writes `text` to a new file only its owner can read: an HCL2 configuration's template holds
/// its sensitive values.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}
