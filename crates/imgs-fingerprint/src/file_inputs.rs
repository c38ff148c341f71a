//! The file inputs of an image: what its template references and what its `inputs` globs matched, each
//! walked into entries and hashed, with every problem reported in terms of what referenced the file.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use imgs_diagnostic::{Diagnostic, did_you_mean};
use imgs_template::{Expect, FileReference, Template};
use rayon::prelude::*;

use crate::relative::relative_key;
use crate::walk::{self, Entry, PathError};
use crate::{FileHasher, InputKey};

/// Why a path was hashed, for error messages.
#[derive(Clone, Copy)]
enum Origin<'a> {
    Template(&'a FileReference),
    /// Matched an `inputs` glob of Images.toml.
    ExtraInput,
}

/// What went wrong with one path.
enum Problem {
    /// Not there, or it is the wrong kind of thing for the key referencing it.
    Missing,
    WrongKind {
        expected: Expect,
    },
    Io(io::Error),
}

impl From<io::Error> for Problem {
    fn from(err: io::Error) -> Problem {
        if err.kind() == io::ErrorKind::NotFound {
            Problem::Missing
        } else {
            Problem::Io(err)
        }
    }
}

/// One hash per file-system entry, keyed by its path relative to `root`; relative paths are taken from
/// `root`. Either every input, or a diagnostic for every path that could not be hashed.
pub(crate) fn file_inputs(
    root: &Path,
    template: &Template,
    files: &[FileReference],
    extra_inputs: &[PathBuf],
    hasher: &FileHasher,
) -> Result<Vec<(InputKey, blake3::Hash)>, Vec<Diagnostic>> {
    let sources: Vec<(PathBuf, Origin)> = files
        .iter()
        .map(|reference| (root.join(&reference.path), Origin::Template(reference)))
        .chain(
            extra_inputs
                .iter()
                .map(|path| (root.join(path), Origin::ExtraInput)),
        )
        .collect();
    // One stat per source on this thread; only directories, which may hold many files, are walked on
    // the thread pool, and only when there are several (waking it costs more than a few lookups).
    let checked: Vec<Result<fs::Metadata, (PathBuf, Problem)>> = sources
        .iter()
        .map(|(path, origin)| check_kind(path, *origin))
        .collect();
    let walk_one = |((path, _), checked): (&(PathBuf, Origin), Result<fs::Metadata, _>)| {
        let metadata = checked?;
        walk::expand_known(path, &metadata)
            .map_err(|PathError { path, error }| (path, Problem::from(error)))
    };
    let directories = checked
        .iter()
        .filter(|c| c.as_ref().is_ok_and(fs::Metadata::is_dir))
        .count();
    let expanded: Vec<Result<Vec<Entry>, (PathBuf, Problem)>> = if directories > 1 {
        sources
            .par_iter()
            .zip(checked.into_par_iter())
            .map(walk_one)
            .collect()
    } else {
        sources.iter().zip(checked).map(walk_one).collect()
    };

    let report = |path: &Path, origin: Origin, problem: Problem| {
        describe(root, template, path, origin, problem)
    };
    let mut diagnostics = Vec::new();
    // By key: a file reached through two references (a script inside an uploaded directory) counts once.
    let mut entries: BTreeMap<String, (Entry, Origin)> = BTreeMap::new();
    for ((_, origin), result) in sources.iter().zip(expanded) {
        match result {
            Ok(found) => {
                for entry in found {
                    entries
                        .entry(relative_key(root, &entry.path))
                        .or_insert((entry, *origin));
                }
            }
            Err((path, problem)) => diagnostics.push(report(&path, *origin, problem)),
        }
    }

    let (keys, located): (Vec<String>, Vec<(Entry, Origin)>) = entries.into_iter().unzip();
    let just_entries: Vec<Entry> = located.iter().map(|(entry, _)| entry.clone()).collect();
    let hashes = hasher.hash_entries(&just_entries);
    let mut out = Vec::with_capacity(keys.len());
    for ((key, (entry, origin)), hash) in keys.into_iter().zip(located).zip(hashes) {
        match hash {
            Ok(hash) => out.push((InputKey::File(key), hash)),
            // Removed or made unreadable between the walk and the read.
            Err(err) => diagnostics.push(report(&entry.path, origin, Problem::from(err))),
        }
    }
    if diagnostics.is_empty() {
        Ok(out)
    } else {
        Err(diagnostics)
    }
}

/// The metadata of `path`, after checking it is what its key expects: a file where a directory is
/// expected (or the reverse) is refused, as Packer refuses it, rather than hashed as something it will
/// not be used as.
fn check_kind(path: &Path, origin: Origin) -> Result<fs::Metadata, (PathBuf, Problem)> {
    let metadata = fs::metadata(path).map_err(|error| (path.to_owned(), Problem::from(error)))?;
    if let Origin::Template(reference) = origin {
        let wrong = match reference.expect {
            Expect::File => metadata.is_dir(),
            Expect::Directory => !metadata.is_dir(),
            Expect::FileOrDirectory => false,
        };
        if wrong {
            return Err((
                path.to_owned(),
                Problem::WrongKind {
                    expected: reference.expect,
                },
            ));
        }
    }
    Ok(metadata)
}

fn describe(
    root: &Path,
    template: &Template,
    path: &Path,
    origin: Origin,
    problem: Problem,
) -> Diagnostic {
    let shown = relative_key(root, path);
    let Origin::Template(reference) = origin else {
        let from_manifest = "it comes from an `inputs` entry of this image in Images.toml";
        return match problem {
            Problem::Missing => {
                Diagnostic::error(format!("the extra input `{shown}` does not exist")).hint(
                    format!("{from_manifest}; correct the entry or create the file"),
                )
            }
            // Extra inputs carry no expectation of kind; said plainly should one ever be given.
            Problem::WrongKind { .. } => {
                Diagnostic::error(format!("the extra input `{shown}` is of the wrong kind"))
                    .hint(from_manifest)
            }
            Problem::Io(err) => {
                Diagnostic::error(format!("cannot read the extra input `{shown}`: {err}")).hint(
                    format!("{from_manifest}; make it readable or narrow the pattern"),
                )
            }
        };
    };

    // Problems inside a referenced directory name the file, and the reference it was found through; a
    // path written with template calls is shown resolved as well.
    let itself = root.join(&reference.path) == path;
    let what = if !itself {
        format!("`{shown}` (in `{}`)", reference.written)
    } else if reference.written == shown {
        format!("`{shown}`")
    } else {
        format!("`{}` (`{shown}`)", reference.written)
    };
    let diagnostic = match problem {
        Problem::Missing if itself => Diagnostic::error(format!("`{}` does not exist", reference.written))
            .hint(missing_hint(path, &shown)),
        Problem::Missing => Diagnostic::error(format!("{what} disappeared while it was being hashed"))
            .hint("something changed the directory during the run; run again"),
        Problem::WrongKind { expected } => {
            let (is, wants) = match expected {
                Expect::File => ("a directory", "a file"),
                _ => ("not a directory", "a directory"),
            };
            Diagnostic::error(format!("{what} is {is}, but `{}` takes {wants}", reference.key))
                .hint("Packer refuses this too; check the path and the variables it is built from")
        }
        Problem::Io(err) => Diagnostic::error(format!("cannot read {what}: {err}")).hint(
            "every file a template references counts towards the image's fingerprint, so imgs must read it",
        ),
    };
    diagnostic
        .at(template.location(reference.span.start))
        .key(reference.key.clone())
}

/// Suggests a near-miss in the same directory, else says where the path was looked for.
fn missing_hint(path: &Path, shown: &str) -> String {
    let siblings: Vec<String> = path
        .parent()
        .and_then(|dir| fs::read_dir(dir).ok())
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    match did_you_mean(name, siblings.iter().map(String::as_str)) {
        Some(close) => {
            let suggestion = match shown.rsplit_once('/') {
                Some((dir, _)) => format!("{dir}/{close}"),
                None => close.to_owned(),
            };
            format!("did you mean `{suggestion}`?")
        }
        None => format!(
            "looked for `{shown}` (relative to the workspace root); create it or correct the path"
        ),
    }
}
