//! Each post-processor type's settings, read from its rendered block (and, for settings Packer
//! renders only when it runs, from the text as written).

use imgs_diagnostic::Diagnostics;
use imgs_post::checksum::{ChecksumType, DEFAULT_OUTPUT as CHECKSUM_OUTPUT};
use imgs_post::compress::{self, Algorithm, Compress, DEFAULT_OUTPUT as COMPRESS_OUTPUT, Format};
use imgs_post::shell_local::{ShellLocal, Written};
use imgs_post::vagrant::{self, DEFAULT_OUTPUT as VAGRANT_OUTPUT};
use imgs_template::Node;

use super::deferred::{Renderer, raw_list, raw_text};
use crate::settings::Settings;

/// Keys Packer sets itself and tolerates in any block.
const PACKER_PREFIX: &[&str] = &["packer_"];

#[derive(Debug)]
pub(crate) struct ChecksumStep {
    pub types: Vec<ChecksumType>,
    /// `output` as written, rendered per type when the step runs.
    pub output: String,
    /// `output` was left at Packer's default (a workspace build then writes it into its version
    /// directory).
    pub output_is_default: bool,
    pub renderer: Renderer,
}

pub(crate) fn checksum(
    settings: &Settings<'_>,
    config: &Node,
    renderer: &Renderer,
) -> Result<ChecksumStep, Diagnostics> {
    let mut problems = settings.unknown_keys(
        "post-processor `checksum`",
        &["checksum_types", "output"],
        PACKER_PREFIX,
    );
    let types = match settings.values.get("checksum_types").map(|(v, _)| v) {
        // Packer's default applies only when the list is absent; an empty list writes nothing.
        None | Some(serde_json::Value::Null) => vec![ChecksumType::Md5],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|item| {
                let name = item.as_str().unwrap_or_default();
                let kind = ChecksumType::parse(name);
                if kind.is_none() {
                    problems.push(
                        settings
                            .error(
                                "checksum_types",
                                format!("unrecognized checksum type `{name}`"),
                            )
                            .hint(format!(
                                "use one of: {}",
                                ChecksumType::ALL.map(ChecksumType::name).join(", ")
                            )),
                    );
                }
                kind
            })
            .collect(),
        Some(_) => {
            problems.push(
                settings
                    .error(
                        "checksum_types",
                        "`checksum_types` must be a list of strings",
                    )
                    .hint("e.g. `\"checksum_types\": [\"sha256\"]`"),
            );
            Vec::new()
        }
    };
    let written = raw_text(config, "output").filter(|o| !o.is_empty());
    let output_is_default = written.is_none();
    let output = written.unwrap_or_else(|| CHECKSUM_OUTPUT.to_string());
    Diagnostics::check(problems)?;
    Ok(ChecksumStep {
        types,
        output,
        output_is_default,
        renderer: renderer.clone(),
    })
}

#[derive(Debug)]
pub(crate) struct CompressStep {
    /// `output` as written, rendered when the step runs.
    pub output: String,
    /// `output` was left at Packer's default.
    pub output_is_default: bool,
    pub compress: Compress,
    pub renderer: Renderer,
}

pub(crate) fn compress(
    settings: &Settings<'_>,
    config: &Node,
    renderer: &Renderer,
    warnings: &mut Vec<String>,
) -> Result<CompressStep, Diagnostics> {
    let mut problems = settings.unknown_keys(
        "post-processor `compress`",
        &[
            "output",
            "format",
            "compression_level",
            "archive",
            "algorithm",
        ],
        PACKER_PREFIX,
    );
    // Packer derives these two from the output name; set by hand they half-apply.
    for derived in ["archive", "algorithm"] {
        if settings.text(derived).is_some_and(|t| !t.is_empty()) {
            problems.push(
                settings
                    .error(derived, format!("not supported yet: `{derived}` in compress"))
                    .hint("the output's name decides the format: end it in .tar.gz, .zip, .gz, .lz4, …, or set `format`"),
            );
        }
    }
    let written = raw_text(config, "output").filter(|o| !o.is_empty());
    let output_is_default = written.is_none();
    let output = written.unwrap_or_else(|| COMPRESS_OUTPUT.to_string());
    let format = Format::detect(&output, settings.text("format").as_deref());
    if let Some(why) = format.unsupported() {
        let key = if settings.values.contains_key("format") {
            "format"
        } else {
            "output"
        };
        problems.push(
            settings
                .error(key, why)
                .hint("imgs writes tar, zip, gzip, lz4 and bgzf"),
        );
    }
    let written_level = settings.text("compression_level").unwrap_or_default();
    let level = match written_level.trim() {
        "" => Ok(None),
        text => text
            .parse::<i64>()
            .map_err(|_| format!("`compression_level` must be an integer, not `{text}`"))
            .and_then(|n| {
                // Packer checks the level only where gzip uses it.
                if matches!(format.algorithm, Some(Algorithm::Gzip | Algorithm::Bgzf)) {
                    compress::level(n)
                } else {
                    Ok((1..=9).contains(&n).then_some(n as u32))
                }
            }),
    };
    let level = level.unwrap_or_else(|message| {
        problems.push(settings.error("compression_level", message));
        None
    });
    if format.algorithm == Some(Algorithm::Lz4) && level.is_some() {
        warnings.push(
            "compress: lz4 is written in its fast mode; `compression_level` does not apply to it"
                .to_string(),
        );
    }
    Diagnostics::check(problems)?;
    Ok(CompressStep {
        output,
        output_is_default,
        compress: Compress { format, level },
        renderer: renderer.clone(),
    })
}

#[derive(Debug)]
pub(crate) struct ShellLocalStep {
    pub shell: ShellLocal,
    pub renderer: Renderer,
}

pub(crate) fn shell_local(
    settings: &Settings<'_>,
    config: &Node,
    renderer: &Renderer,
) -> Result<ShellLocalStep, Diagnostics> {
    let mut problems = settings.unknown_keys(
        "post-processor `shell-local`",
        &[
            "command",
            "inline",
            "script",
            "scripts",
            "environment_vars",
            "env_var_format",
            "execute_command",
            "inline_shebang",
            "only_on",
            "tempfile_extension",
            "use_linux_pathing",
            "valid_exit_codes",
        ],
        PACKER_PREFIX,
    );
    let text = |key: &str| settings.text(key).unwrap_or_default();
    let list = |key: &str| strings(settings, key);
    let mut execute_command = match config
        .members()
        .into_iter()
        .find(|m| m.key == "execute_command")
    {
        Some(m) => match &m.value.value {
            imgs_template::Value::String(s) => vec![s.clone()],
            _ => raw_list(config, "execute_command").unwrap_or_default(),
        },
        None => Vec::new(),
    };
    if execute_command.len() == 1 {
        // Packer's compatibility with the post-processor's old single-string form.
        execute_command.splice(0..0, ["sh".to_string(), "-c".to_string()]);
    }
    let valid_exit_codes = match settings.values.get("valid_exit_codes").map(|(v, _)| v) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|i| {
                let code = i
                    .as_i64()
                    .or_else(|| i.as_str().and_then(|s| s.parse().ok()));
                if code.is_none() {
                    problems.push(
                        settings.error("valid_exit_codes", format!("`{i}` is not an exit code")),
                    );
                }
                code
            })
            .collect(),
        _ => Vec::new(),
    };
    let written = Written {
        command: text("command"),
        inline: list("inline"),
        script: text("script"),
        scripts: list("scripts").unwrap_or_default(),
        environment_vars: list("environment_vars").unwrap_or_default(),
        env_var_format: text("env_var_format"),
        execute_command,
        inline_shebang: text("inline_shebang"),
        only_on: list("only_on").unwrap_or_default(),
        tempfile_extension: text("tempfile_extension"),
        use_linux_pathing: settings
            .text("use_linux_pathing")
            .is_some_and(|t| matches!(t.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True")),
        valid_exit_codes,
    };
    match ShellLocal::from_written(written) {
        Ok(shell) if problems.is_empty() => Ok(ShellLocalStep {
            shell,
            renderer: renderer.clone(),
        }),
        Ok(_) => Err(Diagnostics(problems)),
        Err(found) => {
            problems.extend(found.into_iter().map(|p| {
                let d = settings.error(p.key, p.message);
                match p.hint {
                    Some(hint) => d.hint(hint),
                    None => d,
                }
            }));
            Err(Diagnostics(problems))
        }
    }
}

/// A list of strings as Go's weak decoding reads it (a lone string is a list of one); `None` when
/// absent.
fn strings(settings: &Settings<'_>, key: &str) -> Option<Vec<String>> {
    match settings.values.get(key).map(|(v, _)| v) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Array(items)) => Some(
            items
                .iter()
                .map(|i| match i {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        ),
        Some(serde_json::Value::String(s)) => Some(vec![s.clone()]),
        Some(other) => Some(vec![other.to_string()]),
    }
}

#[derive(Debug)]
pub(crate) struct ArtificeStep {
    /// `files` as rendered: paths and Go glob patterns.
    pub files: Vec<String>,
}

pub(crate) fn artifice(settings: &Settings<'_>) -> Result<ArtificeStep, Diagnostics> {
    let mut problems = settings.unknown_keys(
        "post-processor `artifice`",
        &["files", "keep_input_artifact"],
        PACKER_PREFIX,
    );
    let files = strings(settings, "files").unwrap_or_default();
    if files.is_empty() {
        problems.push(
            settings
                .error("files", "no files specified in artifice configuration")
                .hint("list the files (or glob patterns) the artifact is made of"),
        );
    }
    Diagnostics::check(problems)?;
    Ok(ArtificeStep { files })
}

/// A vagrant step: the settings, and those `override` gives a provider.
#[derive(Debug)]
pub(crate) struct VagrantStep {
    pub base: VagrantSettings,
    /// `override`: provider name → the settings it sets for that provider.
    pub overrides: Vec<(String, VagrantOverride)>,
    pub provider_override: Option<String>,
    pub renderer: Renderer,
    /// The provider, once the chain says what the step's input is (see [`super::read_chains`]).
    pub provider: Option<VagrantProvider>,
}

/// The settings a box is made with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VagrantSettings {
    /// `output` as written, rendered when the box is made.
    pub output: String,
    /// `output` was left at Packer's default.
    pub output_is_default: bool,
    /// gzip level, `None` for a plain tar.
    pub level: Option<u32>,
    pub include: Vec<String>,
    pub vagrantfile_template: String,
}

/// What `override.<provider>` sets (Go's strict decoding: numbers for numbers, lists for lists).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct VagrantOverride {
    pub output: Option<String>,
    pub level: Option<Option<u32>>,
    pub include: Option<Vec<String>>,
    pub vagrantfile_template: Option<String>,
}

/// The box a vagrant step makes, decided by the artifact it is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum VagrantProvider {
    /// A qemu disk: what the build's qemu settings say of it (the size when set).
    Libvirt(QemuFacts),
    Aws,
}

/// The qemu build's disk as its settings describe it (Packer's artifact state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QemuFacts {
    pub vm_name: String,
    pub format: String,
    /// `disk_size` in MiB; `None` when the disk keeps its source's size (read from the disk).
    pub size_mib: Option<u64>,
    pub accelerator: String,
}

impl VagrantStep {
    /// The settings for `provider`, with its `override` applied.
    pub(crate) fn settings_for(&self, provider: &str) -> VagrantSettings {
        let mut settings = self.base.clone();
        if let Some((_, o)) = self.overrides.iter().find(|(name, _)| name == provider) {
            if let Some(output) = &o.output {
                settings.output = output.clone();
                settings.output_is_default = false;
            }
            if let Some(level) = o.level {
                settings.level = level;
            }
            if let Some(include) = &o.include {
                settings.include = include.clone();
            }
            if let Some(template) = &o.vagrantfile_template {
                settings.vagrantfile_template = template.clone();
            }
        }
        settings
    }
}

pub(crate) fn vagrant(
    settings: &Settings<'_>,
    config: &Node,
    renderer: &Renderer,
) -> Result<VagrantStep, Diagnostics> {
    let mut problems = settings.unknown_keys(
        "post-processor `vagrant`",
        &[
            "compression_level",
            "include",
            "output",
            "override",
            "vagrantfile_template",
            "vagrantfile_template_generated",
            "provider_override",
        ],
        PACKER_PREFIX,
    );
    let written = raw_text(config, "output").filter(|o| !o.is_empty());
    let output_is_default = written.is_none();
    let output = written.unwrap_or_else(|| VAGRANT_OUTPUT.to_string());
    // Packer tells an absent level (gzip's default) from one written (even as `""` or `null`: 0,
    // no compression).
    let level = match settings.located.object.get("compression_level") {
        None => vagrant::compression(None),
        Some(written) => imgs_settings::weak::int(written)
            .map_err(|e| format!("`compression_level`: {e}"))
            .and_then(|n| vagrant::compression(Some(n))),
    };
    let level = level.unwrap_or_else(|message| {
        problems.push(settings.error("compression_level", message));
        None
    });
    let provider_override = settings.text("provider_override").filter(|p| !p.is_empty());
    if let Some(provider) = &provider_override
        && !matches!(provider.as_str(), "libvirt" | "aws")
    {
        let message = if imgs_template::schema::VAGRANT_PROVIDERS.contains(&provider.as_str()) {
            format!("not supported yet: Vagrant boxes for the `{provider}` provider")
        } else {
            format!("the given provider_override `{provider}` is not valid")
        };
        problems.push(
            settings
                .error("provider_override", message)
                .hint("imgs makes `libvirt` boxes of qemu disks and `aws` boxes of AMIs"),
        );
    }
    let mut overrides = Vec::new();
    match settings.values.get("override").map(|(v, _)| v) {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(providers)) => {
            for (provider, value) in providers {
                match vagrant_override(value) {
                    Ok(o) => overrides.push((provider.clone(), o)),
                    Err(why) => problems.push(settings.error(
                        "override",
                        format!("cannot read `override.{provider}`: {why}"),
                    )),
                }
            }
        }
        Some(_) => problems.push(settings.error("override", "`override` must be an object")),
    }
    Diagnostics::check(problems)?;
    Ok(VagrantStep {
        base: VagrantSettings {
            output,
            output_is_default,
            level,
            include: strings(settings, "include").unwrap_or_default(),
            vagrantfile_template: settings.text("vagrantfile_template").unwrap_or_default(),
        },
        overrides,
        provider_override,
        renderer: renderer.clone(),
        provider: None,
    })
}

/// One provider's `override`, decoded as Packer decodes it (`mapstructure.Decode`: field names
/// ignoring case, no weak typing, other keys ignored).
fn vagrant_override(value: &serde_json::Value) -> Result<VagrantOverride, String> {
    use serde_json::Value as J;
    let J::Object(members) = value else {
        return Err("expected an object of settings".into());
    };
    let mut o = VagrantOverride::default();
    for (key, value) in members {
        let text = |value: &J| match value {
            J::String(s) => Ok(s.clone()),
            other => Err(format!("`{key}` expects a string, got {other}")),
        };
        match key.to_ascii_lowercase().as_str() {
            "output" => o.output = Some(text(value)?),
            "vagrantfile_template" => o.vagrantfile_template = Some(text(value)?),
            "include" => {
                let J::Array(items) = value else {
                    return Err(format!("`{key}` expects a list of strings, got {value}"));
                };
                o.include = Some(items.iter().map(text).collect::<Result<_, _>>()?);
            }
            "compression_level" => {
                let n = value
                    .as_f64()
                    .ok_or_else(|| format!("`{key}` expects a number, got {value}"))?;
                o.level = Some(vagrant::compression(Some(n.trunc() as i64))?);
            }
            _ => {}
        }
    }
    Ok(o)
}
