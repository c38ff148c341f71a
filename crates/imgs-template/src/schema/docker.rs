//! The `docker` builder and the `docker-import`, `docker-tag`, `docker-push` and `docker-save`
//! post-processors, as Packer 1.6.6 declares and checks them (`builder/docker/config.go`,
//! `post-processor/docker-*/post-processor.go`).

use super::decoded::{Decoded, with_hint};
use super::{SchemaProblem, TypeSchema, ValueType, communicator};

/// `run_command` is rendered when the container starts, with `{{.Image}}`.
pub(super) static BUILDER: TypeSchema = TypeSchema {
    kind: "docker",
    keys: &[BUILDER_KEYS, communicator::KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &["run_command"],
};

/// Every key Packer 1.6.6's docker builder decodes, in its declaration order (the communicator's
/// are flattened in; `pty` has no tag and so is matched by its field name).
pub(super) static BUILDER_KEYS: &[(&str, ValueType)] = &[
    ("author", ValueType::String),
    ("changes", ValueType::StringList),
    ("commit", ValueType::Bool),
    ("container_dir", ValueType::String),
    ("device", ValueType::StringList),
    ("discard", ValueType::Bool),
    ("cap_add", ValueType::StringList),
    ("cap_drop", ValueType::StringList),
    ("exec_user", ValueType::String),
    ("export_path", ValueType::String),
    ("image", ValueType::String),
    ("message", ValueType::String),
    ("privileged", ValueType::Bool),
    ("pty", ValueType::Bool),
    ("pull", ValueType::Bool),
    ("run_command", ValueType::StringList),
    ("tmpfs", ValueType::StringList),
    ("volumes", ValueType::Map),
    ("fix_upload_owner", ValueType::Bool),
    ("windows_container", ValueType::Bool),
    ("login", ValueType::Bool),
    ("login_password", ValueType::String),
    ("login_server", ValueType::String),
    ("login_username", ValueType::String),
    ("ecr_login", ValueType::Bool),
    ("aws_access_key", ValueType::String),
    ("aws_secret_key", ValueType::String),
    ("aws_token", ValueType::String),
    ("aws_profile", ValueType::String),
];

/// Packer's `Prepare` checks, in its order (the `export_path` directory check needs the file system
/// and is the builder's).
pub(super) fn check_builder(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    // The communicator defaults to `docker` here, which needs no settings of its own.
    if c.is_set("communicator") && !c.string("communicator").is_empty() {
        communicator::check(c, out);
    }
    if c.string("image").is_empty() {
        out.push(with_hint(
            c.problem("image", "Image must be specified"),
            "name the image the container starts from, e.g. `\"image\": \"debian:bookworm\"`",
        ));
    }
    let commit = c.bool("commit");
    let discard = c.bool("discard");
    let export = !c.string("export_path").is_empty();
    // More than one of the three.
    if [export, commit, discard].iter().filter(|set| **set).count() > 1 {
        let key = if commit { "commit" } else { "discard" };
        out.push(with_hint(
            c.problem(key, "Cannot specify more than one of commit, discard, and export_path"),
            "keep one: `commit` makes an image, `export_path` a tar of the file system, `discard` nothing",
        ));
    }
    if !export && !commit && !discard {
        out.push(with_hint(
            c.problem_here(
                "No instructions given for handling the artifact; expected commit, discard, or export_path",
            ),
            "add `\"commit\": true` to make an image of the container",
        ));
    }
    if c.bool("ecr_login") && c.string("login_server").is_empty() {
        out.push(c.problem(
            "login_server",
            "ECR login requires login server to be provided.",
        ));
    }
}

pub(super) static IMPORT: TypeSchema = TypeSchema {
    kind: "docker-import",
    keys: &[IMPORT_KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &[],
};

pub(super) static IMPORT_KEYS: &[(&str, ValueType)] = &[
    ("repository", ValueType::String),
    ("tag", ValueType::String),
    ("changes", ValueType::StringList),
];

pub(super) static TAG: TypeSchema = TypeSchema {
    kind: "docker-tag",
    keys: &[TAG_KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &[],
};

/// `force` has no tag in Packer's config and is matched by its field name.
pub(super) static TAG_KEYS: &[(&str, ValueType)] = &[
    ("repository", ValueType::String),
    ("tag", ValueType::StringList),
    ("tags", ValueType::StringList),
    ("force", ValueType::Bool),
];

pub(super) static PUSH: TypeSchema = TypeSchema {
    kind: "docker-push",
    keys: &[PUSH_KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &[],
};

/// `login` has no tag in Packer's config and is matched by its field name.
pub(super) static PUSH_KEYS: &[(&str, ValueType)] = &[
    ("login", ValueType::Bool),
    ("login_username", ValueType::String),
    ("login_password", ValueType::String),
    ("login_server", ValueType::String),
    ("ecr_login", ValueType::Bool),
    ("aws_access_key", ValueType::String),
    ("aws_secret_key", ValueType::String),
    ("aws_token", ValueType::String),
    ("aws_profile", ValueType::String),
];

pub(super) fn check_push(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    if c.bool("ecr_login") && c.string("login_server").is_empty() {
        out.push(c.problem(
            "login_server",
            "ECR login requires login server to be provided.",
        ));
    }
}

pub(super) static SAVE: TypeSchema = TypeSchema {
    kind: "docker-save",
    keys: &[SAVE_KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &[],
};

pub(super) static SAVE_KEYS: &[(&str, ValueType)] = &[("path", ValueType::String)];

/// Packer 1.6.6 checks nothing else in these post-processors' configurations.
pub(super) fn check_nothing(_: &Decoded, _: &mut Vec<SchemaProblem>) {}
