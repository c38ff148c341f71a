//! The plugin types imgs runs: one entry per builder and post-processor type, each saying how its
//! settings are read into something that runs. (Their keys, Packer's checks and the files they read
//! are declared once in imgs-template's spec table; provisioners are imgs-provision's.) Adding a type
//! is its module plus one line here; nothing else matches on type names.

use imgs_diagnostic::Diagnostics;
use imgs_template::Node;
use imgs_template::interpolate::Context;

use crate::builder::Builder;
use crate::post::{PostAction, Renderer, read as post_read};
use crate::prepare::BuildInput;
use crate::settings::Settings;
use crate::{amazon_ebs, docker, file, manifest, null, qemu};

/// What reading one builder block has at hand.
pub(crate) struct BuilderRead<'a> {
    pub(crate) input: &'a BuildInput<'a>,
    /// The build's name, rendered.
    pub(crate) name: &'a str,
    pub(crate) ctx: &'a Context<'a>,
    /// The block's settings, rendered (but for the keys the builder renders itself at build time).
    pub(crate) settings: &'a Settings<'a>,
    /// Notes Packer accepts with a warning.
    pub(crate) warnings: &'a mut Vec<String>,
}

/// A builder type imgs runs.
pub struct BuilderType {
    pub kind: &'static str,
    /// The builder renders the keys Packer renders at build time (its schema's deferred keys) itself,
    /// with data only the build has (amazon-ebs tags read `{{ .SourceAMI }}`); for the others every
    /// key is rendered before the build starts.
    pub(crate) renders_deferred_keys: bool,
    /// Its artifacts live in a cloud: the plan looks them up by fingerprint, `imgs gc` and
    /// `prune --deregister` reach them (see [`crate::cloud`]).
    pub(crate) cloud_artifacts: bool,
    pub(crate) read: fn(BuilderRead<'_>) -> Result<Box<dyn Builder>, Diagnostics>,
}

/// Every builder type imgs runs, in the order messages list them.
pub static BUILDERS: &[BuilderType] = &[
    BuilderType {
        kind: "null",
        renders_deferred_keys: false,
        cloud_artifacts: false,
        read: |r| Ok(Box::new(null::read(r.settings, r.input.working_dir)?)),
    },
    BuilderType {
        kind: "file",
        renders_deferred_keys: false,
        cloud_artifacts: false,
        read: |r| {
            Ok(Box::new(file::read(
                r.settings,
                r.input.working_dir,
                r.input.outputs.as_ref(),
                r.warnings,
            )?))
        },
    },
    BuilderType {
        kind: "qemu",
        renders_deferred_keys: false,
        cloud_artifacts: false,
        read: |r| {
            Ok(Box::new(qemu::read(
                r.settings,
                r.name,
                r.input.working_dir,
                r.input.outputs.as_ref(),
                r.input.force,
            )?))
        },
    },
    BuilderType {
        kind: "docker",
        renders_deferred_keys: true,
        cloud_artifacts: false,
        read: |r| {
            Ok(Box::new(docker::read(
                r.settings,
                r.name,
                r.input.working_dir,
                r.input.outputs.as_ref(),
                r.ctx,
                &r.input.labels,
            )?))
        },
    },
    BuilderType {
        kind: "amazon-ebs",
        renders_deferred_keys: true,
        cloud_artifacts: true,
        read: |r| {
            Ok(Box::new(amazon_ebs::read(
                r.settings,
                r.name,
                r.input.working_dir,
                r.ctx,
                &r.input.labels,
            )?))
        },
    },
];

/// What reading one post-processor block has at hand.
pub(crate) struct PostRead<'a> {
    pub(crate) settings: &'a Settings<'a>,
    /// The block as written, for the settings Packer renders only when the step runs.
    pub(crate) config: &'a Node,
    pub(crate) renderer: &'a Renderer,
    /// Whose build it is, and what no line may show.
    pub(crate) facts: &'a crate::post::ChainFacts<'a>,
    pub(crate) warnings: &'a mut Vec<String>,
}

/// A post-processor type imgs runs.
pub struct PostProcessorType {
    pub kind: &'static str,
    pub(crate) read: fn(PostRead<'_>) -> Result<PostAction, Diagnostics>,
}

/// Every post-processor type imgs runs, in the order messages list them.
pub static POST_PROCESSORS: &[PostProcessorType] = &[
    PostProcessorType {
        kind: "manifest",
        read: |r| manifest::read(r.settings).map(PostAction::Manifest),
    },
    PostProcessorType {
        kind: "checksum",
        read: |r| post_read::checksum(r.settings, r.config, r.renderer).map(PostAction::Checksum),
    },
    PostProcessorType {
        kind: "compress",
        read: |r| {
            post_read::compress(r.settings, r.config, r.renderer, r.warnings)
                .map(PostAction::Compress)
        },
    },
    PostProcessorType {
        kind: "shell-local",
        read: |r| {
            post_read::shell_local(r.settings, r.config, r.renderer).map(PostAction::ShellLocal)
        },
    },
    PostProcessorType {
        kind: "artifice",
        read: |r| post_read::artifice(r.settings).map(PostAction::Artifice),
    },
    PostProcessorType {
        kind: "docker-import",
        read: |r| crate::post::docker::read_import(r.settings).map(PostAction::DockerImport),
    },
    PostProcessorType {
        kind: "docker-tag",
        read: |r| crate::post::docker::read_tag(r.settings).map(PostAction::DockerTag),
    },
    PostProcessorType {
        kind: "docker-push",
        read: |r| crate::post::docker::read_push(r.settings).map(PostAction::DockerPush),
    },
    PostProcessorType {
        kind: "docker-save",
        read: |r| crate::post::docker::read_save(r.settings).map(PostAction::DockerSave),
    },
    PostProcessorType {
        kind: "vagrant",
        read: |r| post_read::vagrant(r.settings, r.config, r.renderer).map(PostAction::Vagrant),
    },
    // An imgs extension: Packer 1.6.6 has no `upload`.
    PostProcessorType {
        kind: "upload",
        read: |r| {
            crate::post::upload::read(
                r.settings,
                r.config,
                r.renderer,
                r.facts.labels,
                r.facts.secrets,
            )
            .map(PostAction::Upload)
        },
    },
];

pub fn builder_type(kind: &str) -> Option<&'static BuilderType> {
    BUILDERS.iter().find(|b| b.kind == kind)
}

pub fn post_processor_type(kind: &str) -> Option<&'static PostProcessorType> {
    POST_PROCESSORS.iter().find(|p| p.kind == kind)
}

/// Whether builds of `kind` make artifacts that live in a cloud.
pub fn has_cloud_artifacts(kind: &str) -> bool {
    builder_type(kind).is_some_and(|b| b.cloud_artifacts)
}

/// The builder types imgs runs, for messages.
pub fn builder_kinds() -> Vec<&'static str> {
    BUILDERS.iter().map(|b| b.kind).collect()
}

/// The post-processor types imgs runs, for messages.
pub fn post_processor_kinds() -> Vec<&'static str> {
    POST_PROCESSORS.iter().map(|p| p.kind).collect()
}

/// The keys a builder type leaves for itself to render at build time.
pub(crate) fn deferred_keys(kind: &str) -> &'static [&'static str] {
    match builder_type(kind) {
        Some(b) if b.renders_deferred_keys => {
            imgs_template::schema::lookup(imgs_template::schema::Section::Builder, kind)
                .map_or(&[], |schema| schema.deferred)
        }
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use imgs_template::schema::{Section, lookup};

    /// A type imgs runs is one it validates: its keys, checks and file references come from the spec
    /// table, so a registry line without a spec line would run settings nobody checked.
    #[test]
    fn every_type_imgs_runs_has_a_spec() {
        for builder in super::BUILDERS {
            assert!(
                lookup(Section::Builder, builder.kind).is_some(),
                "builder `{}` has no spec",
                builder.kind
            );
        }
        for post in super::POST_PROCESSORS {
            assert!(
                lookup(Section::PostProcessor, post.kind).is_some(),
                "post-processor `{}` has no spec",
                post.kind
            );
        }
    }
}
