//! What Packer 1.6.6 accepts for each builder, provisioner and post-processor type imgs supports.
//!
//! Two kinds of facts live here, both read from Packer 1.6.6 and written down as data:
//!
//! * **Keys** ([`lookup`]): every configuration key a type decodes, with the shape of value it takes. Packer
//!   decodes a plugin's JSON with `mapstructure` in weakly typed mode, so each [`ValueType`] documents
//!   which JSON shapes it accepts (as the reference build, Debian's Packer 1.6.6 with mapstructure 1.5,
//!   accepts them; [`decoded_string`] and friends read values the same way). Embedded configs (AWS access/run/AMI config, block devices, the SSH and
//!   WinRM communicator, ISO/HTTP/boot/shutdown config, ...) are flattened into the type's table, as
//!   Packer flattens them.
//! * **Checks** ([`check_config`]): the errors each type's `Prepare`/`Configure` reports for a decoded
//!   config — required keys, options that exclude each other, enumerations, ranges — except the ones that
//!   need the file system, the network or other programs. Those are listed in [`io_checks`], and
//!   [`applicable_io_checks`] picks the ones Packer makes for a given configuration, so the caller can do
//!   them.
//!
//! Key matching follows `mapstructure`: a key matches exactly, or else case-insensitively, and the keys
//! `type` and `packer_*` are never "unknown" ([`is_ignored_key`]).

mod decoded;
mod io_conditions;
mod packer_types;
mod value_type;
mod volatile_sample;

mod amazon_ebs;
mod ansible;
mod ansible_local;
mod artifice;
mod azure_dtl;
mod checksum;
mod chef;
mod communicator;
mod compress;
mod converge;
mod docker;
mod file_builder;
mod file_provisioner;
mod inspec;
mod manifest;
mod null;
mod pause;
mod powershell;
mod puppet;
mod qemu;
mod salt;
mod shell;
mod shell_local;
pub mod upload;
mod vagrant;
mod windows;

use imgs_diagnostic::Span;

use crate::Node;
use crate::references::Expect;
use decoded::Decoded;

/// Go's `strconv.ParseBool`, which Packer's weak decoding applies to strings; adapters that read
/// plugin settings themselves use it too.
pub use imgs_settings::go::parse_go_bool;
pub use powershell::EXECUTION_POLICIES;
pub use vagrant::PROVIDERS as VAGRANT_PROVIDERS;
pub use value_type::{CheckNode, ValueType, setting_of};

/// The part of a template a plugin configuration sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Section {
    Builder,
    Provisioner,
    PostProcessor,
}

impl Section {
    /// How messages name the section: "builder", "provisioner", "post-processor".
    pub fn noun(self) -> &'static str {
        match self {
            Section::Builder => "builder",
            Section::Provisioner => "provisioner",
            Section::PostProcessor => "post-processor",
        }
    }
}

/// The keys one plugin type accepts.
#[derive(Debug)]
pub struct TypeSchema {
    pub kind: &'static str,
    /// Every key Packer decodes for this type and the shape of its value, in groups: the type's own keys,
    /// then the groups types share (communicator settings, the `packer_*` keys Packer injects).
    pub keys: &'static [&'static [(&'static str, ValueType)]],
    /// For keys holding an object ([`ValueType::Object`]) or a list of objects ([`ValueType::ObjectList`]):
    /// the keys those objects accept. Packer rejects unknown keys inside them too (reported as
    /// `key.inner` or `key[0].inner`). Objects inside those objects are listed under their dotted path
    /// (`source_ami_filter.filter`); [`TypeSchema::nested_keys_at`] resolves a path.
    pub nested: &'static [(&'static str, &'static [(&'static str, ValueType)])],
    /// Keys Packer does not render while preparing the plugin: their templates are rendered later, during
    /// the build, with build-time data such as `{{ .Path }}` or `{{ .Vars }}`. Packer still parses them
    /// while preparing, so a syntax error or an unknown function in them is an error (`{{ .Anything }}`
    /// is not).
    pub deferred: &'static [&'static str],
}

impl TypeSchema {
    /// The declared key `key` matches, as `mapstructure` matches them: exactly, else ignoring case.
    pub fn find_key(&self, key: &str) -> Option<(&'static str, ValueType)> {
        self.all_keys()
            .find(|(k, _)| *k == key)
            .or_else(|| self.all_keys().find(|(k, _)| k.eq_ignore_ascii_case(key)))
    }

    /// Every key of every group, in order.
    pub fn all_keys(&self) -> impl Iterator<Item = (&'static str, ValueType)> + Clone {
        self.keys.iter().flat_map(|group| group.iter().copied())
    }

    /// The keys accepted inside the object(s) held by `key`, if it holds objects with a known schema.
    pub fn nested_keys(&self, key: &str) -> Option<&'static [(&'static str, ValueType)]> {
        let (name, _) = self.find_key(key)?;
        self.nested
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, keys)| *keys)
    }

    /// The keys accepted inside the object(s) at `path` (outermost key first, each matched as
    /// [`TypeSchema::find_key`] matches), e.g. `["source_ami_filter", "filter"]`; `None` when the path does
    /// not lead to objects with a known schema.
    pub fn nested_keys_at(&self, path: &[&str]) -> Option<&'static [(&'static str, ValueType)]> {
        let (first, rest) = path.split_first()?;
        let (mut resolved, _) = self.find_key(first)?;
        let mut keys = self.nested_keys(resolved)?;
        let mut dotted = resolved.to_string();
        for segment in rest {
            (resolved, _) = find_in(keys, segment)?;
            dotted = format!("{dotted}.{resolved}");
            keys = self
                .nested
                .iter()
                .find(|(k, _)| *k == dotted)
                .map(|(_, keys)| *keys)?;
        }
        Some(keys)
    }

    /// Whether Packer renders `key` only at build time (see [`TypeSchema::deferred`]).
    pub fn is_deferred(&self, key: &str) -> bool {
        self.find_key(key)
            .is_some_and(|(name, _)| self.deferred.contains(&name))
    }
}

/// The entry of `keys` that `key` matches: exactly, else ignoring case (as `mapstructure` does).
pub fn find_in(
    keys: &'static [(&'static str, ValueType)],
    key: &str,
) -> Option<(&'static str, ValueType)> {
    keys.iter()
        .find(|(k, _)| *k == key)
        .or_else(|| keys.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
        .copied()
}

/// The settings Packer injects into every plugin's configuration (`-force`, `-debug`, `-on-error`, …):
/// every plugin decodes them (`common.PackerConfig`, and the template path its interpolation context
/// reads), so a template may set them, and then they must decode.
pub(crate) static PACKER_KEYS: &[(&str, ValueType)] = &[
    ("packer_build_name", ValueType::String),
    ("packer_builder_type", ValueType::String),
    ("packer_core_version", ValueType::String),
    ("packer_debug", ValueType::Bool),
    ("packer_force", ValueType::Bool),
    ("packer_on_error", ValueType::String),
    ("packer_user_variables", ValueType::Map),
    ("packer_sensitive_variables", ValueType::StringList),
    ("packer_template_path", ValueType::String),
];

/// Keys Packer never reports as unknown in a plugin configuration: `type`, and everything starting with
/// `packer_` (Packer injects `packer_build_name`, `packer_force`, ... itself and tolerates others).
pub fn is_ignored_key(key: &str) -> bool {
    key == "type" || key.starts_with("packer_")
}

/// Everything imgs knows of one plugin type before anything runs. One line of [`SPECS`] per type, so a
/// new type is its module plus that line.
pub(crate) struct PluginSpec {
    pub(crate) section: Section,
    pub(crate) kind: &'static str,
    /// Packer's keys and value shapes.
    pub(crate) schema: &'static TypeSchema,
    /// Packer's `Prepare` checks that need no I/O.
    check: fn(&Decoded<'_>, &mut Vec<SchemaProblem>),
    /// The `Prepare` checks that need the file system, a program or the network, in Packer's order.
    pub(crate) io_checks: &'static [IoCheck],
    /// The settings that name files the build reads (fingerprint inputs).
    pub(crate) references: &'static [RefKey],
}

/// How one configuration key references files the build reads.
pub(crate) struct RefKey {
    pub(crate) key: &'static str,
    pub(crate) expect: Expect,
    /// The value may be a URL; only local paths (and `file://` URLs) are files.
    pub(crate) url: bool,
    /// Entries may be glob patterns, expanded.
    pub(crate) globs: bool,
    /// The file's directory is read too (a playbook reads `roles/`, `group_vars/` and `templates/`
    /// beside it), so its whole tree counts.
    pub(crate) with_directory: bool,
}

/// A [`RefKey`] for a plain local path.
pub(crate) const fn plain(key: &'static str, expect: Expect) -> RefKey {
    RefKey {
        key,
        expect,
        url: false,
        globs: false,
        with_directory: false,
    }
}

/// A [`RefKey`] for a local file whose directory tree is read too.
pub(crate) const fn with_directory(key: &'static str) -> RefKey {
    RefKey {
        with_directory: true,
        ..plain(key, Expect::File)
    }
}

/// Every plugin type imgs knows the settings of, builders first, in the order messages list them.
static SPECS: &[PluginSpec] = &[
    PluginSpec {
        section: Section::Builder,
        kind: "amazon-ebs",
        schema: &amazon_ebs::SCHEMA,
        check: amazon_ebs::check,
        io_checks: amazon_ebs::IO_CHECKS,
        references: amazon_ebs::REFERENCES,
    },
    PluginSpec {
        section: Section::Builder,
        kind: "docker",
        schema: &docker::BUILDER,
        check: docker::check_builder,
        io_checks: &[],
        references: &[],
    },
    PluginSpec {
        section: Section::Builder,
        kind: "qemu",
        schema: &qemu::SCHEMA,
        check: qemu::check,
        io_checks: qemu::IO_CHECKS,
        references: qemu::REFERENCES,
    },
    PluginSpec {
        section: Section::Builder,
        kind: "null",
        schema: &null::SCHEMA,
        check: null::check,
        io_checks: communicator::IO_CHECKS,
        references: &[],
    },
    PluginSpec {
        section: Section::Builder,
        kind: "file",
        schema: &file_builder::SCHEMA,
        check: file_builder::check,
        io_checks: &[],
        references: file_builder::REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "shell",
        schema: &shell::SCHEMA,
        check: shell::check,
        io_checks: shell::IO_CHECKS,
        references: shell::REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "file",
        schema: &file_provisioner::SCHEMA,
        check: file_provisioner::check,
        io_checks: file_provisioner::IO_CHECKS,
        references: file_provisioner::REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "shell-local",
        schema: &shell_local::SCHEMA,
        check: shell_local::check,
        io_checks: shell_local::IO_CHECKS,
        references: shell::REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "ansible",
        schema: &ansible::SCHEMA,
        check: ansible::check,
        io_checks: ansible::IO_CHECKS,
        references: ansible::REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "ansible-local",
        schema: &ansible_local::SCHEMA,
        check: ansible_local::check,
        io_checks: ansible_local::IO_CHECKS,
        references: ansible_local::REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "azure-dtlartifact",
        schema: &azure_dtl::SCHEMA,
        check: azure_dtl::check,
        io_checks: &[],
        references: &[],
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "breakpoint",
        schema: &pause::BREAKPOINT,
        check: pause::check_breakpoint,
        io_checks: &[],
        references: &[],
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "chef-client",
        schema: &chef::CLIENT,
        check: chef::check_client,
        io_checks: chef::CLIENT_IO_CHECKS,
        references: chef::CLIENT_REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "chef-solo",
        schema: &chef::SOLO,
        check: chef::check_solo,
        io_checks: chef::SOLO_IO_CHECKS,
        references: chef::SOLO_REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "converge",
        schema: &converge::SCHEMA,
        check: converge::check,
        io_checks: &[],
        references: converge::REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "inspec",
        schema: &inspec::SCHEMA,
        check: inspec::check,
        io_checks: inspec::IO_CHECKS,
        references: inspec::REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "powershell",
        schema: &powershell::SCHEMA,
        check: powershell::check,
        io_checks: shell::IO_CHECKS,
        references: shell::REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "puppet-masterless",
        schema: &puppet::MASTERLESS,
        check: puppet::check_masterless,
        io_checks: puppet::MASTERLESS_IO_CHECKS,
        references: puppet::MASTERLESS_REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "puppet-server",
        schema: &puppet::SERVER,
        check: puppet::check_server,
        io_checks: puppet::SERVER_IO_CHECKS,
        references: puppet::SERVER_REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "salt-masterless",
        schema: &salt::SCHEMA,
        check: salt::check,
        io_checks: salt::IO_CHECKS,
        references: salt::REFERENCES,
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "sleep",
        schema: &pause::SLEEP,
        check: pause::check_sleep,
        io_checks: &[],
        references: &[],
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "windows-restart",
        schema: &windows::RESTART,
        check: windows::check_restart,
        io_checks: &[],
        references: &[],
    },
    PluginSpec {
        section: Section::Provisioner,
        kind: "windows-shell",
        schema: &windows::SHELL,
        check: windows::check_shell,
        io_checks: shell::IO_CHECKS,
        references: shell::REFERENCES,
    },
    PluginSpec {
        section: Section::PostProcessor,
        kind: "manifest",
        schema: &manifest::SCHEMA,
        check: manifest::check,
        io_checks: &[],
        references: &[],
    },
    PluginSpec {
        section: Section::PostProcessor,
        kind: "compress",
        schema: &compress::SCHEMA,
        check: compress::check,
        io_checks: &[],
        references: &[],
    },
    PluginSpec {
        section: Section::PostProcessor,
        kind: "checksum",
        schema: &checksum::SCHEMA,
        check: checksum::check,
        io_checks: &[],
        references: &[],
    },
    PluginSpec {
        section: Section::PostProcessor,
        kind: "shell-local",
        schema: &shell_local::SCHEMA,
        check: shell_local::check,
        io_checks: shell_local::IO_CHECKS,
        references: shell::REFERENCES,
    },
    PluginSpec {
        section: Section::PostProcessor,
        kind: "artifice",
        schema: &artifice::SCHEMA,
        check: artifice::check,
        io_checks: &[],
        references: &[],
    },
    PluginSpec {
        section: Section::PostProcessor,
        kind: "docker-import",
        schema: &docker::IMPORT,
        check: docker::check_nothing,
        io_checks: &[],
        references: &[],
    },
    PluginSpec {
        section: Section::PostProcessor,
        kind: "docker-tag",
        schema: &docker::TAG,
        check: docker::check_nothing,
        io_checks: &[],
        references: &[],
    },
    PluginSpec {
        section: Section::PostProcessor,
        kind: "docker-push",
        schema: &docker::PUSH,
        check: docker::check_push,
        io_checks: &[],
        references: &[],
    },
    PluginSpec {
        section: Section::PostProcessor,
        kind: "docker-save",
        schema: &docker::SAVE,
        check: docker::check_nothing,
        io_checks: &[],
        references: &[],
    },
    PluginSpec {
        section: Section::PostProcessor,
        kind: "vagrant",
        schema: &vagrant::SCHEMA,
        check: vagrant::check,
        io_checks: vagrant::IO_CHECKS,
        references: vagrant::REFERENCES,
    },
    PluginSpec {
        section: Section::PostProcessor,
        kind: "upload",
        schema: &upload::SCHEMA,
        check: upload::check,
        io_checks: &[],
        references: &[],
    },
];

/// The spec of a type imgs knows the settings of.
pub(crate) fn spec(section: Section, kind: &str) -> Option<&'static PluginSpec> {
    SPECS
        .iter()
        .find(|spec| spec.section == section && spec.kind == kind)
}

/// The schema of a type imgs supports, or `None`.
pub fn lookup(section: Section, kind: &str) -> Option<&'static TypeSchema> {
    spec(section, kind).map(|spec| spec.schema)
}

/// Settings an HCL2 configuration cannot set in Packer 1.6.6 although a JSON template can, and
/// why: inspec's `subcommand` is left out of its HCL2 form (`mapstructure-to-hcl2:",skip"`), chef's
/// `json` is declared a map of strings there but fails to decode whatever it holds, and vagrant's
/// `override` is declared a map of strings where each provider's settings are an object.
pub fn unsettable_in_hcl2(plugin: &str, key: &str) -> Option<&'static str> {
    match (plugin, key) {
        ("inspec", "subcommand") => Some(
            "Packer 1.6.6 reads this setting from JSON templates only; its HCL2 form has no such argument",
        ),
        ("chef-solo" | "chef-client", "json") => Some(
            "Packer 1.6.6's HCL2 form of chef's `json` fails to decode any value (\"incorrect type\"); keep this provisioner in a JSON template",
        ),
        ("vagrant", "override") => Some(
            "Packer 1.6.6's HCL2 form declares vagrant's `override` a map of strings, which no provider's settings (an object) fit; keep this post-processor in a JSON template",
        ),
        _ => None,
    }
}

/// The types imgs knows the settings of in `section`, in the order messages list them.
pub fn supported(section: Section) -> Vec<&'static str> {
    SPECS
        .iter()
        .filter(|spec| spec.section == section)
        .map(|spec| spec.kind)
        .collect()
}

/// Whether `kind` is a type Packer 1.6.6 ships in `section` (imgs may or may not build it).
pub fn packer_known(section: Section, kind: &str) -> bool {
    packer_types::all(section).contains(&kind)
}

/// The types imgs adds to Packer's: it validates and runs them, Packer 1.6.6 has no such type (so
/// `packer build` and `packer validate` refuse a template using one, and a build Packer runs cannot
/// use one).
static EXTENSIONS: &[(Section, &str)] = &[(Section::PostProcessor, "upload")];

/// Whether `kind` is an imgs extension in `section` (see [`EXTENSIONS`]).
pub fn is_extension(section: Section, kind: &str) -> bool {
    EXTENSIONS.contains(&(section, kind))
}

/// Whether `kind` is a type of `section` at all: one Packer 1.6.6 ships, or an imgs extension.
pub fn known_type(section: Section, kind: &str) -> bool {
    packer_known(section, kind) || is_extension(section, kind)
}

/// Every type Packer 1.6.6 ships in `section`, sorted.
pub fn packer_types(section: Section) -> &'static [&'static str] {
    packer_types::all(section)
}

/// One problem a type's own checks found in its configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaProblem {
    pub message: String,
    /// The key at fault; for a key inside a nested object, a path such as
    /// `launch_block_device_mappings[0].device_name`.
    pub key: Option<String>,
    /// Where to point: the offending value, else the whole configuration object.
    pub span: Option<Span>,
    pub hint: Option<String>,
}

/// Per-type checks mirroring Packer 1.6.6's `Prepare()` errors: required keys, mutually exclusive options,
/// enumerations, value ranges. Files that must exist are NOT here (no I/O in this function; see
/// [`io_checks`]).
///
/// `config` is the plugin's JSON object as written (for a provisioner: after its `override` for the build
/// is applied, if the caller models that). `interpolated(key)` gives a top-level key's string value after
/// template interpolation, `None` when absent or not renderable. Values this function cannot know (a
/// template that did not render) are not judged. An unsupported `kind` yields no problems.
///
/// Wrong value shapes and unknown keys are the caller's to report ([`ValueType::check`],
/// [`TypeSchema::find_key`]): Packer stops at those before it runs these checks, so the checks read
/// values the way Packer would have decoded them and never fail on a shape they did not expect.
pub fn check_config(
    section: Section,
    kind: &str,
    config: &Node,
    interpolated: &dyn Fn(&str) -> Option<String>,
) -> Vec<SchemaProblem> {
    let mut problems = Vec::new();
    if let Some(spec) = spec(section, kind) {
        (spec.check)(&Decoded::new(config, interpolated), &mut problems);
    }
    problems
}

/// What Packer's decoder makes of a string key: a number becomes its decimal text, `true`/`false` become
/// `"1"`/`"0"`; `None` when the key is absent or `null`. Keys match as in [`TypeSchema::find_key`].
/// `interpolated` renders top-level string values as in [`check_config`]; pass a configuration whose
/// strings are already rendered with `&|_| None`. Use it to read paths for the [`io_checks`]: Packer stats
/// `"source": true` as the file `1`.
pub fn decoded_string(
    config: &Node,
    key: &str,
    interpolated: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let config = Decoded::new(config, interpolated);
    config.is_set(key).then(|| config.string(key))
}

/// What Packer's decoder makes of a list-of-strings key (a string is split on commas, a single value is a
/// list of one, items are converted as in [`decoded_string`]); `None` when absent or `null`.
pub fn decoded_strings(
    config: &Node,
    key: &str,
    interpolated: &dyn Fn(&str) -> Option<String>,
) -> Option<Vec<String>> {
    Decoded::new(config, interpolated).list(key)
}

/// What Packer's decoder makes of a boolean key (`"1"`, `"true"`, non-zero numbers are true); `false` when
/// absent, `null` or unreadable.
pub fn decoded_bool(
    config: &Node,
    key: &str,
    interpolated: &dyn Fn(&str) -> Option<String>,
) -> bool {
    Decoded::new(config, interpolated).bool(key)
}

/// A check Packer's `Prepare()` makes that needs the file system, a program or the network; `check_config`
/// leaves these to its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoCheck {
    /// The key whose value(s) the check reads.
    pub key: &'static str,
    pub what: IoCheckKind,
    /// What Packer reports when the check fails, for reference.
    pub packer_message: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoCheckKind {
    /// The path (relative to the working directory) must exist (`stat` succeeds).
    Exists,
    /// The path must exist and be a regular file (not a directory).
    File,
    /// The path must exist and be a directory.
    Directory,
    /// Each entry must exist, or when it holds `*`, `?` or `[` be a valid glob pattern.
    ExistsOrGlob,
    /// The path must NOT exist (unless `-force`/`packer_force`).
    MustNotExist,
    /// The private key file must exist and parse as an SSH private key.
    SshPrivateKey,
    /// Packer runs a program (`ansible-playbook --version`) unless the config turns the check off.
    Program,
    /// A `file:` ISO checksum is read (downloaded when it is a URL) to get the checksum value.
    ChecksumFile,
    /// Credentials are fetched from Vault.
    Network,
    /// The current OS user must be known.
    CurrentUser,
}

/// The I/O checks of `kind`'s `Prepare()`, in Packer's order; empty for unsupported types.
pub fn io_checks(section: Section, kind: &str) -> &'static [IoCheck] {
    spec(section, kind).map_or(&[], |spec| spec.io_checks)
}

/// The I/O checks Packer makes for this configuration: [`io_checks`] without those whose conditions do
/// not hold (a key that is unset, a download rather than an upload, `generated`, `skip_version_check`, a
/// communicator other than ssh, a bastion with agent authentication, ...). Arguments as in
/// [`check_config`].
pub fn applicable_io_checks(
    section: Section,
    kind: &str,
    config: &Node,
    interpolated: &dyn Fn(&str) -> Option<String>,
) -> Vec<IoCheck> {
    let c = Decoded::new(config, interpolated);
    io_checks(section, kind)
        .iter()
        .filter(|check| io_conditions::applies(kind, check, &c))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests;
