//! The `compress` post-processor: the input files packed into one archive (tar, zip) and/or
//! compressed (gzip, lz4, bgzf), the format read from the output's file name as Packer 1.6.6 reads
//! it (see [`Format::detect`]).
//!
//! Tar entries are named by the input's file name alone and zip entries by the path as written,
//! as in Packer. Packer's `xz` is not supported yet.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::{BLOCK, Cancelled, PostError, resolve};
use imgs_atomic_file::AtomicFile;

mod bgzf;

/// Packer's default `output`: no extension, so a gzip-compressed tar.
pub const DEFAULT_OUTPUT: &str = "packer_{{.BuildName}}_{{.BuilderType}}";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Archive {
    Tar,
    Zip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Gzip,
    Lz4,
    /// Blocked gzip (as `bgzip` writes): a series of gzip members, readable by any gzip reader.
    Bgzf,
    Xz,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Gzip => "gzip",
            Algorithm::Lz4 => "lz4",
            Algorithm::Bgzf => "bgzf",
            Algorithm::Xz => "xz",
        }
    }
}

/// What the output is: an archive of all inputs, or one input compressed; or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    pub archive: Option<Archive>,
    pub algorithm: Option<Algorithm>,
}

impl Format {
    /// Packer's reading of the output's name (the template text, before rendering) with `format`,
    /// when given, as an extra extension: the last two `.ext` groups (lower-case letters and digits)
    /// decide. `tar` before the last makes a tar; a last `zip` or `tar` is the archive, uncompressed;
    /// a last `gz`, `lz4`, `bgzf` or `xz` is the compression; anything else, or no extension at all,
    /// is a gzip-compressed tar.
    pub fn detect(output: &str, format: Option<&str>) -> Format {
        let name = match format {
            Some(f) if !f.is_empty() => format!("{output}.{f}"),
            _ => output.to_string(),
        };
        let groups = extensions(&name);
        let tar_gz = Format {
            archive: Some(Archive::Tar),
            algorithm: Some(Algorithm::Gzip),
        };
        let Some((&last, rest)) = groups.split_last() else {
            return tar_gz;
        };
        let mut archive = (rest.last() == Some(&"tar")).then_some(Archive::Tar);
        match last {
            "zip" => archive = Some(Archive::Zip),
            "tar" => archive = Some(Archive::Tar),
            _ => {}
        }
        if matches!(last, "zip" | "tar") {
            return Format {
                archive,
                algorithm: None,
            };
        }
        let algorithm = match last {
            "gz" => Algorithm::Gzip,
            "lz4" => Algorithm::Lz4,
            "bgzf" => Algorithm::Bgzf,
            "xz" => Algorithm::Xz,
            _ => return tar_gz,
        };
        Format {
            archive,
            algorithm: Some(algorithm),
        }
    }

    /// Why imgs cannot write this format yet, if it cannot.
    pub fn unsupported(&self) -> Option<String> {
        (self.algorithm == Some(Algorithm::Xz))
            .then(|| "not supported yet: compress format xz".to_string())
    }

    /// "gzip", or Packer's "no compression".
    pub fn compression(&self) -> &'static str {
        self.algorithm.map_or("no compression", Algorithm::name)
    }
}

/// Every `.ext` group in `name` (`.` and then lower-case letters and digits), left to right, as
/// Go's `FindAllStringSubmatch` with `\.([a-z0-9]+)` finds them.
fn extensions(name: &str) -> Vec<&str> {
    let bytes = name.as_bytes();
    let mut groups = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'.' {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len()
                && (bytes[end].is_ascii_lowercase() || bytes[end].is_ascii_digit())
            {
                end += 1;
            }
            if end > start {
                groups.push(&name[start..end]);
                i = end;
                continue;
            }
        }
        i += 1;
    }
    groups
}

/// `compression_level` as Packer settles it: above 9 is 9, `0` and `-1` mean the default (`None`);
/// `-2` (Huffman-only) and anything lower are refused here.
pub fn level(written: i64) -> Result<Option<u32>, String> {
    match written {
        0 | -1 => Ok(None),
        1..=9 => Ok(Some(written as u32)),
        10.. => Ok(Some(9)),
        -2 => Err("not supported yet: compression_level -2 (Huffman-only compression)".into()),
        _ => Err(format!(
            "invalid compression_level {written}: use an integer from -1 to 9"
        )),
    }
}

/// A compress step, ready to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compress {
    pub format: Format,
    /// gzip and bgzf level; `None` for the default (6). lz4 is written in its fast mode whatever
    /// the level.
    pub level: Option<u32>,
}

impl Compress {
    /// Writes `target` (rendered, relative to the working directory when relative) from `inputs`;
    /// returns the artifact's one file, `target` as given.
    pub fn write(
        &self,
        target: &Path,
        inputs: &[PathBuf],
        working_dir: &Path,
        cancelled: Cancelled<'_>,
    ) -> Result<PathBuf, PostError> {
        if let Some(why) = self.format.unsupported() {
            return Err(PostError::Unsupported(why));
        }
        if self.format.archive.is_none() && inputs.len() != 1 {
            return Err(PostError::OneFileOnly {
                files: inputs.iter().map(|f| f.display().to_string()).collect(),
            });
        }
        let full_target = resolve(working_dir, target);
        let written = |e: io::Error| PostError::io("write the archive", &full_target, e);
        let mut out = AtomicFile::create(&full_target).map_err(written)?;
        let file = out.file().try_clone().map_err(written)?;
        let sources = inputs
            .iter()
            .map(|input| Source::new(input, working_dir, cancelled));
        match self.format.archive {
            Some(Archive::Zip) => write_zip(BufWriter::new(file), sources, &full_target)?,
            archive => {
                let mut sink = Compressor::new(self, BufWriter::new(file));
                match archive {
                    Some(_) => sink = write_tar(sink, sources, &full_target)?,
                    None => {
                        for source in sources {
                            let (_, mut reader) = source.open()?;
                            reader.copy_to(&mut sink, &full_target)?;
                        }
                    }
                }
                sink.finish()
                    .and_then(|mut w| w.flush())
                    .map_err(|e| cancel_or(e, cancelled, written))?;
            }
        }
        out.commit().map_err(written)?;
        Ok(target.to_path_buf())
    }
}

/// An input file to pack: its name as written and where it is.
struct Source<'a> {
    written: &'a Path,
    full: PathBuf,
    cancelled: Cancelled<'a>,
}

impl<'a> Source<'a> {
    fn new(written: &'a Path, working_dir: &Path, cancelled: Cancelled<'a>) -> Source<'a> {
        Source {
            written,
            full: resolve(working_dir, written),
            cancelled,
        }
    }

    fn open(&self) -> Result<(std::fs::Metadata, Checked<'a>), PostError> {
        let file = File::open(&self.full).map_err(|e| PostError::io("read", &self.full, e))?;
        let meta = file
            .metadata()
            .map_err(|e| PostError::io("read", &self.full, e))?;
        if meta.is_dir() {
            return Err(PostError::Io {
                action: "compress",
                path: self.full.display().to_string(),
                reason: "it is a directory; compress takes files".into(),
            });
        }
        Ok((
            meta,
            Checked {
                file,
                path: self.full.clone(),
                cancelled: self.cancelled,
            },
        ))
    }
}

/// An input being read, that stops with an error once the build is cancelled.
struct Checked<'a> {
    file: File,
    path: PathBuf,
    cancelled: Cancelled<'a>,
}

impl Read for Checked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if (self.cancelled)() {
            return Err(io::Error::other("cancelled"));
        }
        self.file.read(buf)
    }
}

impl Checked<'_> {
    fn copy_to(&mut self, sink: &mut impl Write, target: &Path) -> Result<(), PostError> {
        let mut block = vec![0u8; BLOCK];
        loop {
            let n = match self.read(&mut block) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let path = self.path.clone();
                    return Err(cancel_or(e, self.cancelled, |e| {
                        PostError::io("read", &path, e)
                    }));
                }
            };
            sink.write_all(&block[..n])
                .map_err(|e| PostError::io("write the archive", target, e))?;
        }
    }
}

/// A cancelled build's I/O error is the cancellation, not a failure to report.
fn cancel_or(
    e: io::Error,
    cancelled: Cancelled<'_>,
    otherwise: impl FnOnce(io::Error) -> PostError,
) -> PostError {
    if cancelled() {
        PostError::Cancelled
    } else {
        otherwise(e)
    }
}

fn write_tar<'a, W: Write>(
    sink: W,
    sources: impl Iterator<Item = Source<'a>>,
    target: &Path,
) -> Result<W, PostError> {
    let mut tar = tar::Builder::new(sink);
    for source in sources {
        let cancelled = source.cancelled;
        let (meta, reader) = source.open()?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&meta);
        // Packer names entries by the file name alone.
        let name = source.written.file_name().unwrap_or_default();
        // The archive is named (a full disk is where it goes), and the file being added.
        tar.append_data(&mut header, name, reader).map_err(|e| {
            cancel_or(e, cancelled, |e| PostError::Io {
                action: "write the archive",
                path: target.display().to_string(),
                reason: format!("adding `{}`: {e}", source.full.display()),
            })
        })?;
    }
    tar.into_inner()
        .map_err(|e| PostError::io("write the archive", target, e))
}

fn write_zip<'a>(
    sink: BufWriter<File>,
    sources: impl Iterator<Item = Source<'a>>,
    target: &Path,
) -> Result<(), PostError> {
    let zipped = |e: zip::result::ZipError| PostError::Io {
        action: "write the archive",
        path: target.display().to_string(),
        reason: e.to_string(),
    };
    let mut zip = zip::ZipWriter::new(sink).set_auto_large_file();
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for source in sources {
        let (_, mut reader) = source.open()?;
        // Packer names entries by the path as written, with forward slashes.
        let name = source.written.to_string_lossy().replace('\\', "/");
        zip.start_file(name, options).map_err(zipped)?;
        reader.copy_to(&mut zip, target)?;
    }
    zip.finish()
        .map_err(zipped)?
        .flush()
        .map_err(|e| PostError::io("write the archive", target, e))
}

/// The compression layer over the output file.
enum Compressor<W: Write> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
    Lz4(lz4_flex::frame::FrameEncoder<W>),
    Bgzf(bgzf::Writer<W>),
}

impl<W: Write> Compressor<W> {
    fn new(compress: &Compress, out: W) -> Compressor<W> {
        let level = flate2::Compression::new(compress.level.unwrap_or(6));
        match compress.format.algorithm {
            None => Compressor::Plain(out),
            Some(Algorithm::Gzip) => Compressor::Gzip(flate2::write::GzEncoder::new(out, level)),
            Some(Algorithm::Lz4) => Compressor::Lz4(lz4_flex::frame::FrameEncoder::new(out)),
            Some(Algorithm::Bgzf) => Compressor::Bgzf(bgzf::Writer::new(out, level)),
            Some(Algorithm::Xz) => unreachable!("refused by Format::unsupported before writing"),
        }
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Compressor::Plain(w) => Ok(w),
            Compressor::Gzip(w) => w.finish(),
            Compressor::Lz4(w) => w.finish().map_err(io::Error::other),
            Compressor::Bgzf(w) => w.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Plain(w) => w.write(buf),
            Compressor::Gzip(w) => w.write(buf),
            Compressor::Lz4(w) => w.write(buf),
            Compressor::Bgzf(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::Plain(w) => w.flush(),
            Compressor::Gzip(w) => w.flush(),
            Compressor::Lz4(w) => w.flush(),
            Compressor::Bgzf(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests;
