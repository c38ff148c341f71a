//! `Images.lock`: what each image's outside inputs (a `source_ami_filter`, a docker image by tag,
//! an ISO URL) resolved to, so a rebuild does not silently move to a newer base. imgs writes it
//! (plan and build when an entry is missing or its spec changed, `imgs update` on request); it is
//! meant to be committed.
//!
//! ```toml
//! version = 1
//!
//! [[input]]
//! image = "base"
//! build = "amazon-ebs"
//! kind = "source-ami"
//! region = "us-east-1"
//! spec = "name=debian-12-* owners=self most_recent=true"
//! resolved = "ami-0123456789abcdef0"
//! ```
//!
//! Entries are kept sorted by (image, build, kind, region), one table each, so a change is a
//! small, stable diff.

// A parse error is one located diagnostic, as Images.toml's (see manifest.rs).
#![allow(clippy::result_large_err)]

use std::fmt;
use std::path::Path;

use imgs_diagnostic::{Diagnostic, Location};
use serde::Deserialize;

pub const LOCK_NAME: &str = "Images.lock";

/// The lock file format this imgs writes and reads.
pub const LOCK_VERSION: u32 = 1;

const HEADER: &str = "# This file is written by imgs (`imgs update`; `imgs plan` and `imgs build` add \
missing entries).\n# It records what each image's outside inputs resolved to. Commit it; do not edit \
it by hand.\n";

/// What kind of outside input an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// An amazon-ebs `source_ami_filter`, resolved to an AMI ID in the build region.
    SourceAmi,
    /// A docker builder's `image` by tag, resolved to a digest.
    ImageDigest,
    /// A qemu `iso_url` whose checksum the template does not give, resolved to `sha256:…`.
    IsoChecksum,
}

impl InputKind {
    /// The stable short form, in fingerprint input keys.
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::SourceAmi => "source-ami",
            InputKind::ImageDigest => "image-digest",
            InputKind::IsoChecksum => "iso-checksum",
        }
    }

    pub fn parse(text: &str) -> Option<InputKind> {
        [
            InputKind::SourceAmi,
            InputKind::ImageDigest,
            InputKind::IsoChecksum,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

impl fmt::Display for InputKind {
    /// How people read it: `source AMI`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputKind::SourceAmi => "source AMI",
            InputKind::ImageDigest => "image digest",
            InputKind::IsoChecksum => "ISO checksum",
        })
    }
}

/// Which outside input of which build of which image: what an entry is for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LockKey {
    pub image: String,
    /// The build's name, as in records.
    pub build: String,
    pub kind: InputKind,
    /// Where it was resolved (an AMI is per region); empty when the input has no region.
    pub region: String,
}

impl LockKey {
    /// `source AMI (us-east-1)`, for messages.
    pub fn what(&self) -> String {
        if self.region.is_empty() {
            self.kind.to_string()
        } else {
            format!("{} ({})", self.kind, self.region)
        }
    }

    /// The name of this input among its image's fingerprint inputs: `source-ami/REGION/BUILD`
    /// (build names are free text, so they come last).
    pub fn input_name(&self) -> String {
        format!("{}/{}/{}", self.kind.as_str(), self.region, self.build)
    }
}

/// One locked input: what it was asked as and what that resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockEntry {
    pub key: LockKey,
    /// The input as asked, after variables: the filter settings, the image reference, the ISO
    /// URL. A changed spec makes the entry stale, as Cargo notices a changed requirement.
    pub spec: String,
    /// What the spec resolved to: an AMI ID, `repo@sha256:…`, `sha256:…`.
    pub resolved: String,
}

/// The whole lock file, entries sorted by key, one per key.
#[derive(Clone, Debug, Default)]
pub struct Lockfile {
    entries: Vec<LockEntry>,
    /// Where each entry read from a file is (its `spec`), for errors about it; not part of what
    /// the lock says.
    located: std::collections::BTreeMap<LockKey, Location>,
}

/// Two locks are equal when they lock the same inputs to the same values, wherever they were read.
impl PartialEq for Lockfile {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Lockfile {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    version: toml::Spanned<u32>,
    #[serde(default, rename = "input")]
    inputs: Vec<toml::Spanned<EntryForm>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryForm {
    image: String,
    build: String,
    kind: InputKind,
    #[serde(default)]
    region: String,
    spec: toml::Spanned<String>,
    resolved: String,
}

impl Lockfile {
    pub fn entries(&self) -> &[LockEntry] {
        &self.entries
    }

    /// Where the entry of `key` was read (file, line and column of its `spec`).
    pub fn location(&self, key: &LockKey) -> Option<&Location> {
        self.located.get(key)
    }

    pub fn get(&self, key: &LockKey) -> Option<&LockEntry> {
        self.entries
            .binary_search_by(|e| e.key.cmp(key))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The entries of one image.
    pub fn of_image<'a>(&'a self, image: &'a str) -> impl Iterator<Item = &'a LockEntry> + 'a {
        self.entries.iter().filter(move |e| e.key.image == image)
    }

    /// Adds `entry`, or replaces the one with its key.
    pub fn set(&mut self, entry: LockEntry) {
        match self.entries.binary_search_by(|e| e.key.cmp(&entry.key)) {
            Ok(i) => self.entries[i] = entry,
            Err(i) => self.entries.insert(i, entry),
        }
    }

    /// Keeps only the entries `keep` says yes to.
    pub fn retain(&mut self, keep: impl FnMut(&LockEntry) -> bool) {
        self.entries.retain(keep);
    }

    /// Reads `text` (the contents of `path`); an error is located at line and column, with the key
    /// and a hint, as Images.toml errors are.
    pub fn parse(path: &Path, text: &str) -> Result<Lockfile, Diagnostic> {
        let form: FileForm = toml::from_str(text).map_err(|e| {
            let mut d = Diagnostic::error(format!(
                "{LOCK_NAME} cannot be read: {}",
                e.message().lines().next().unwrap_or_default()
            ));
            d = match e.span() {
                Some(span) => d.at(Location::at(path, text, span.start)),
                None => d.in_file(path),
            };
            if let Some(key) = e
                .span()
                .and_then(|span| text.get(span))
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() < 80 && !k.contains('\n'))
            {
                d = d.key(key.to_string());
            }
            d.hint(format!(
                "{LOCK_NAME} is written by imgs: each [[input]] has image, build, kind \
                 (source-ami, image-digest, iso-checksum), region, spec and resolved; restore it \
                 from version control, or delete it and run `imgs update` to resolve every input \
                 afresh"
            ))
        })?;
        if *form.version.get_ref() != LOCK_VERSION {
            return Err(Diagnostic::error(format!(
                "{LOCK_NAME} has version {}; this imgs reads version {LOCK_VERSION}",
                form.version.get_ref()
            ))
            .at(Location::at(path, text, form.version.span().start))
            .key("version")
            .hint("it was written by another imgs; run `imgs update` to write it anew"));
        }
        let mut lock = Lockfile::default();
        for spanned in form.inputs {
            let at = spanned.span().start;
            let e = spanned.into_inner();
            let entry = LockEntry {
                key: LockKey {
                    image: e.image,
                    build: e.build,
                    kind: e.kind,
                    region: e.region,
                },
                spec: e.spec.get_ref().clone(),
                resolved: e.resolved,
            };
            let spec_at = Location::at(path, text, e.spec.span().start);
            if lock.get(&entry.key).is_some() {
                return Err(Diagnostic::error(format!(
                    "{LOCK_NAME} locks the {} of build `{}` of `{}` twice",
                    entry.key.what(),
                    entry.key.build,
                    entry.key.image
                ))
                .at(Location::at(path, text, at))
                .key("input")
                .hint("keep one of them, or run `imgs update` to write the file anew"));
            }
            lock.located.insert(entry.key.clone(), spec_at);
            lock.set(entry);
        }
        Ok(lock)
    }

    /// The file's text: a header, the version, then one `[[input]]` per entry in key order.
    pub fn to_toml(&self) -> String {
        let mut out = format!("{HEADER}\nversion = {LOCK_VERSION}\n");
        for e in &self.entries {
            out.push_str("\n[[input]]\n");
            let mut field = |name: &str, value: &str| {
                out.push_str(&format!("{name} = {}\n", toml_string(value)));
            };
            field("image", &e.key.image);
            field("build", &e.key.build);
            field("kind", e.key.kind.as_str());
            if !e.key.region.is_empty() {
                field("region", &e.key.region);
            }
            field("spec", &e.spec);
            field("resolved", &e.resolved);
        }
        out
    }
}

/// `value` as a TOML basic string.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(image: &str, region: &str, ami: &str) -> LockEntry {
        LockEntry {
            key: LockKey {
                image: image.into(),
                build: "amazon-ebs".into(),
                kind: InputKind::SourceAmi,
                region: region.into(),
            },
            spec: "name=debian-* owners=self most_recent=true".into(),
            resolved: ami.into(),
        }
    }

    #[test]
    fn writes_sorted_and_reads_back() {
        let mut lock = Lockfile::default();
        lock.set(entry("web", "us-east-1", "ami-2"));
        lock.set(entry("base", "us-west-2", "ami-1"));
        lock.set(entry("base", "eu-west-1", "ami-0"));
        let text = lock.to_toml();
        assert!(text.starts_with("# This file is written by imgs"));
        let order: Vec<&str> = lock.entries().iter().map(|e| e.resolved.as_str()).collect();
        assert_eq!(order, ["ami-0", "ami-1", "ami-2"]);
        let read = Lockfile::parse(Path::new(LOCK_NAME), &text).unwrap();
        assert_eq!(read, lock);
        // Written the same way twice: a stable diff.
        assert_eq!(read.to_toml(), text);
    }

    #[test]
    fn quotes_and_backslashes_survive() {
        let mut lock = Lockfile::default();
        let mut e = entry("base", "us-east-1", "ami-1");
        e.spec = "name=a \"b\" \\ c\tτ".into();
        lock.set(e);
        let read = Lockfile::parse(Path::new(LOCK_NAME), &lock.to_toml()).unwrap();
        assert_eq!(read, lock);
    }

    #[test]
    fn an_entry_knows_where_its_spec_was_read() {
        let mut lock = Lockfile::default();
        lock.set(entry("base", "us-east-1", "ami-1"));
        let read = Lockfile::parse(Path::new(LOCK_NAME), &lock.to_toml()).unwrap();
        let at = read.location(&lock.entries()[0].key).unwrap();
        assert_eq!(at.to_string(), "Images.lock:11:8");
    }

    #[test]
    fn set_replaces_the_entry_of_a_key() {
        let mut lock = Lockfile::default();
        lock.set(entry("base", "us-east-1", "ami-old"));
        lock.set(entry("base", "us-east-1", "ami-new"));
        assert_eq!(lock.entries().len(), 1);
        assert_eq!(lock.entries()[0].resolved, "ami-new");
    }

    #[test]
    fn an_unknown_key_is_located_with_the_key_and_a_hint() {
        let text = "version = 1\n\n[[input]]\nimage = \"base\"\nbuild = \"b\"\nkind = \"source-ami\"\n\
                    spec = \"x\"\nresolved = \"ami-1\"\nresolvd = \"ami-2\"\n";
        let d = Lockfile::parse(Path::new(LOCK_NAME), text).unwrap_err();
        let shown = d.to_string();
        assert!(shown.contains("Images.lock:9:1"), "{shown}");
        assert_eq!(d.key.as_deref(), Some("resolvd"), "{shown}");
        assert!(shown.contains("imgs update"), "{shown}");
    }

    #[test]
    fn an_unknown_kind_is_located() {
        let text = "version = 1\n[[input]]\nimage = \"base\"\nbuild = \"b\"\nkind = \"sauce\"\n\
                    spec = \"x\"\nresolved = \"ami-1\"\n";
        let d = Lockfile::parse(Path::new(LOCK_NAME), text).unwrap_err();
        assert!(d.to_string().contains("Images.lock:5:8"), "{d}");
    }

    #[test]
    fn another_version_is_refused() {
        let d = Lockfile::parse(Path::new(LOCK_NAME), "version = 2\n").unwrap_err();
        assert!(d.to_string().contains("Images.lock:1:11"), "{d}");
        assert_eq!(d.key.as_deref(), Some("version"));
    }

    #[test]
    fn a_key_locked_twice_is_refused() {
        let mut lock = Lockfile::default();
        lock.set(entry("base", "us-east-1", "ami-1"));
        let text = lock.to_toml();
        let body = text.split_once("[[input]]").unwrap().1;
        let doubled = format!("{text}\n[[input]]{body}");
        let d = Lockfile::parse(Path::new(LOCK_NAME), &doubled).unwrap_err();
        assert!(d.to_string().contains("twice"), "{d}");
    }
}
