//! The `file` provisioner's settings.

use imgs_diagnostic::Diagnostic;
use imgs_template::interpolate::Context;

use super::LocalPath;
use super::decode::Reader;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Upload,
    Download,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSettings {
    pub direction: Direction,
    /// `sources`, then `source` (Packer appends it). Local paths when uploading, remote ones when
    /// downloading.
    pub sources: Vec<String>,
    pub destination: String,
    /// Where local paths (the sources of an upload, the destination of a download) are.
    pub local_sources: Vec<LocalPath>,
    pub local_destination: LocalPath,
    /// The sources may be created by an earlier step, so only their absence at run time is an error
    /// (which it is either way here: imgs checks existence when the step runs).
    pub generated: bool,
}

pub(super) fn read(r: &Reader<'_>, ctx: &Context<'_>) -> Result<FileSettings, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let direction = match r.string("direction").as_deref() {
        None | Some("") | Some("upload") => Direction::Upload,
        Some("download") => Direction::Download,
        Some(other) => {
            problems.push(
                r.error("direction", format!("direction `{other}` is invalid"))
                    .hint("use `upload` (the default) or `download`"),
            );
            Direction::Upload
        }
    };
    let mut sources = r.strings("sources").unwrap_or_default();
    sources.extend(r.non_empty_string("source"));
    if sources.is_empty() {
        problems.push(
            r.error("source", "the file provisioner needs a `source`")
                .hint("name a file or directory in `source`, or several in `sources`"),
        );
    }
    let destination = r.non_empty_string("destination").unwrap_or_default();
    if destination.is_empty() {
        problems.push(r.error("destination", "the file provisioner needs a `destination`"));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(FileSettings {
        direction,
        local_sources: sources.iter().map(|s| LocalPath::new(s, ctx.pwd)).collect(),
        local_destination: LocalPath::new(&destination, ctx.pwd),
        sources,
        destination,
        generated: r.bool("generated"),
    })
}
