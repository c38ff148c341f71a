//! Running `packer build` and `packer validate` with machine-readable output.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use imgs_log::Log;
use imgs_process::{Lines, ProcessGroup};
use tokio_util::sync::CancellationToken;

use crate::machine::{Artifacts, PackerArtifact, Record, parse_record, ui_lines};
use crate::{Packer, PackerError};

/// Hides secrets in a line before it reaches a log (Packer 1.6.6's machine-readable output does
/// not filter its sensitive variables: its filter's result is overwritten).
pub type Mask<'a> = &'a (dyn Fn(&str) -> String + Sync);

/// One `packer build` or `packer validate` invocation.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// Where Packer runs: relative paths in the template mean this directory.
    pub working_dir: PathBuf,
    /// The template file (or HCL2 directory) to run.
    pub template: PathBuf,
    /// A JSON file of variable values (`-var-file`).
    pub var_file: Option<PathBuf>,
    /// The builds to run (`-only`), by name.
    pub only: Vec<String>,
    /// `-on-error=abort`: a failed build's resources are left for a look (Packer's default
    /// cleans them up).
    pub on_error_abort: bool,
    /// Set in Packer's environment on top of imgs's own.
    pub env: Vec<(String, String)>,
    /// Files Packer reads only as it starts (the template, the var-file), removed as soon as it has
    /// printed its first record, so they do not outlive a build whose imgs is killed — a var-file
    /// holds sensitive values.
    pub read_at_start: Vec<PathBuf>,
}

impl Invocation {
    fn command(&self, packer: &Packer, subcommand: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&packer.path);
        command.arg(subcommand).arg("-machine-readable");
        if subcommand == "build" {
            // Packer asks before it cleans up a failed build only with -on-error=ask; the default
            // (cleanup) is what imgs wants, and `-color=false` keeps escapes out of the log.
            command.arg("-color=false");
            if self.on_error_abort {
                command.arg("-on-error=abort");
            }
        }
        if !self.only.is_empty() {
            command.arg(format!("-only={}", self.only.join(",")));
        }
        if let Some(file) = &self.var_file {
            command.arg(format!("-var-file={}", file.display()));
        }
        command
            .arg(&self.template)
            .current_dir(&self.working_dir)
            // No version check against checkpoint.hashicorp.com: builds talk to what their
            // templates name, nothing else.
            .env("CHECKPOINT_DISABLE", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own: a Ctrl-C on the terminal reaches imgs, which tells Packer once,
            // rather than Packer and its plugins each seeing it.
            .process_group(0)
            .kill_on_drop(true);
        command
    }
}

/// What `packer build` made of one build.
#[derive(Debug)]
pub struct Built {
    pub artifacts: Vec<PackerArtifact>,
}

/// Runs `packer build` for the one build `invocation.only` names, its output streamed into `log`
/// (masked), and returns that build's artifacts. Cancelled, Packer is sent an interrupt — its own
/// Ctrl-C, on which it cancels the build and cleans up what it made — and is waited for.
pub async fn build(
    packer: &Packer,
    invocation: &Invocation,
    log: Log<'_>,
    mask: Mask<'_>,
    cancel: &CancellationToken,
) -> Result<Built, PackerError> {
    let mut command = invocation.command(packer, "build");
    let mut child = command.spawn().map_err(|e| PackerError::Spawn {
        program: packer.path.display().to_string(),
        reason: e.to_string(),
    })?;
    let pid = child.id();
    let mut group = ProcessGroup::led_by(pid);
    let mut stdout = Lines::new(child.stdout.take());
    let mut stderr = Lines::new(child.stderr.take());
    let mut artifacts = Artifacts::default();
    let mut errors = Vec::new();
    let mut interrupted = false;
    let mut read_at_start = invocation.read_at_start.clone();
    while !(stdout.done && stderr.done) {
        tokio::select! {
            _ = cancel.cancelled(), if !interrupted => {
                interrupted = true;
                log.line("Cancelling: Packer was sent an interrupt and is cleaning up...");
                if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                    // SAFETY: kill(2) takes plain integers; the PID is that of our own child,
                    // which has not been waited for, so it cannot have been reused.
                    unsafe { libc::kill(pid, libc::SIGINT) };
                }
            }
            line = stdout.next(), if !stdout.done => {
                let Some(line) = line else { continue };
                // Packer has read its configuration before it prints anything.
                for file in read_at_start.drain(..) {
                    let _ = std::fs::remove_file(file);
                }
                match parse_record(&line) {
                    Some(record) => take_record(&record, log, mask, &mut artifacts, &mut errors),
                    None => log.line(&mask(&line)),
                }
            }
            line = stderr.next(), if !stderr.done => {
                if let Some(line) = line { log.line(&mask(&line)); }
            }
        }
    }
    let status = child.wait().await.map_err(|e| PackerError::Spawn {
        program: packer.path.display().to_string(),
        reason: e.to_string(),
    })?;
    // Packer ended by itself; its plugins end with it.
    group.ended();
    if interrupted {
        return Err(PackerError::Cancelled);
    }
    if !status.success() {
        return Err(PackerError::BuildFailed {
            status: status
                .code()
                .map_or_else(|| "a signal".into(), |c| c.to_string()),
            errors: errors.iter().map(|e| mask(e)).collect(),
        });
    }
    let name = invocation.only.first().map(String::as_str).unwrap_or("");
    let found = artifacts.of(name);
    let found = if found.is_empty() && artifacts.targets().len() == 1 {
        artifacts.of(artifacts.targets()[0])
    } else {
        found
    };
    Ok(Built {
        artifacts: found
            .into_iter()
            .map(|a| PackerArtifact {
                description: mask(&a.description),
                ..a
            })
            .collect(),
    })
}

fn take_record(
    record: &Record,
    log: Log<'_>,
    mask: Mask<'_>,
    artifacts: &mut Artifacts,
    errors: &mut Vec<String>,
) {
    if let Some(lines) = ui_lines(record) {
        for line in lines {
            log.line(&mask(&line));
        }
        return;
    }
    match record.kind.as_str() {
        "artifact" => artifacts.add(record),
        "error" => {
            if let Some(message) = record.data.first() {
                errors.push(message.clone());
            }
        }
        _ => {}
    }
}

/// One problem `packer validate` reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The build whose preparation failed, when Packer names one.
    pub build: Option<String>,
    pub message: String,
}

/// Runs `packer validate` and returns what it found wrong (empty when the template is valid).
pub fn validate(
    packer: &Packer,
    invocation: &Invocation,
    mask: Mask<'_>,
) -> Result<Vec<Problem>, PackerError> {
    let command = invocation.command(packer, "validate");
    let mut command = command.into_std();
    let output = command.output().map_err(|e| PackerError::Spawn {
        program: packer.path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut problems = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some(record) = parse_record(line) else {
            continue;
        };
        if record.kind == "ui" && record.data.first().map(String::as_str) == Some("error") {
            let text = record.data.get(1).cloned().unwrap_or_default();
            problems.extend(validate_problems(&mask(&text)));
        }
    }
    if problems.is_empty() && !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        problems.push(Problem {
            build: None,
            message: mask(stderr.trim()),
        });
    }
    Ok(problems)
}

/// The problems in the text of one `ui,error` record of `packer validate`: sections starting with
/// `Error:` (`Error: Failed to prepare build: "NAME"` names the build), each a list of `* ` items.
pub fn validate_problems(text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut build: Option<String> = None;
    let mut current: Option<Problem> = None;
    let mut section_has_items = false;
    let mut section_text = String::new();
    let flush_section =
        |problems: &mut Vec<Problem>, build: &Option<String>, has: bool, text: &str| {
            let text = text.trim();
            if !has && !text.is_empty() {
                problems.push(Problem {
                    build: build.clone(),
                    message: text.to_string(),
                });
            }
        };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Error:") {
            problems.extend(current.take());
            flush_section(&mut problems, &build, section_has_items, &section_text);
            section_has_items = false;
            section_text.clear();
            build = rest
                .trim()
                .strip_prefix("Failed to prepare build:")
                .map(|name| name.trim().trim_matches('"').to_string());
            if build.is_none() {
                section_text.push_str(rest.trim());
                section_text.push('\n');
            }
            continue;
        }
        let trimmed = line.trim_start();
        if let Some(item) = trimmed.strip_prefix("* ") {
            problems.extend(current.take());
            section_has_items = true;
            current = Some(Problem {
                build: build.clone(),
                message: item.trim_end().to_string(),
            });
        } else if trimmed.is_empty() {
            problems.extend(current.take());
        } else if let Some(item) = &mut current {
            // Packer wraps long items; the message is one sentence.
            item.message.push(' ');
            item.message.push_str(line.trim());
        } else if !is_count_line(trimmed) {
            section_text.push_str(line);
            section_text.push('\n');
        }
    }
    problems.extend(current.take());
    flush_section(&mut problems, &build, section_has_items, &section_text);
    problems
}

/// `1 error occurred:`, `2 error(s) occurred:`: the header of go-multierror's list.
fn is_count_line(line: &str) -> bool {
    line.ends_with("occurred:")
        && line
            .split_whitespace()
            .next()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

/// Where a relative artifact file of Packer's is: relative to the directory it ran in.
pub fn artifact_path(working_dir: &Path, file: &str) -> PathBuf {
    let path = Path::new(file);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        working_dir.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_errors_are_split_per_build_and_item() {
        let text = "Error: Failed to prepare build: \"n\"\n\n1 error(s) occurred:\n\n* Bad script 'nope.sh': stat nope.sh: no such file or directory\n\nError: Failed to prepare build: \"virtualbox-iso\"\n\n2 errors occurred:\n\t* unknown configuration key: '\"bogus\"'\n\t* an iso_checksum is required\n  (really)\n\n\n\n";
        let problems = validate_problems(text);
        assert_eq!(
            problems,
            vec![
                Problem {
                    build: Some("n".into()),
                    message: "Bad script 'nope.sh': stat nope.sh: no such file or directory".into()
                },
                Problem {
                    build: Some("virtualbox-iso".into()),
                    message: "unknown configuration key: '\"bogus\"'".into()
                },
                Problem {
                    build: Some("virtualbox-iso".into()),
                    message: "an iso_checksum is required (really)".into()
                },
            ]
        );
        let text = "Error: \n\n1 error occurred:\n\t* post-processor 1.1: 'only' specified builder 'zzz' not found\n\n";
        assert_eq!(
            validate_problems(text),
            vec![Problem {
                build: None,
                message: "post-processor 1.1: 'only' specified builder 'zzz' not found".into()
            }]
        );
        let text = "Failed to parse template: Error parsing JSON: unexpected end of JSON input\nAt line 2, column 1";
        assert_eq!(validate_problems(text).len(), 1);
    }
}
