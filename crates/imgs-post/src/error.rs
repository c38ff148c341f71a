//! Why a post-processor failed, worded for the person running the build.

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("cannot {action} `{path}`: {reason}")]
    Io {
        action: &'static str,
        path: String,
        reason: String,
    },
    /// Rendering a deferred setting (`output`, `execute_command`) failed.
    #[error("cannot render `{key}`: {reason}")]
    Render { key: &'static str, reason: String },
    /// Packer's compress writes one file unless it archives (tar or zip).
    #[error(
        "can only compress one file without tar or zip, but the artifact has {}: {}",
        files.len(),
        files.join(", ")
    )]
    OneFileOnly { files: Vec<String> },
    #[error("script `{script}` exited with status {code}; allowed exit codes are {allowed:?}")]
    ExitCode {
        script: String,
        code: i64,
        allowed: Vec<i64>,
    },
    /// A glob pattern Go's `filepath.Glob` refuses (artifice's `files`).
    #[error("invalid pattern `{pattern}` in `files`: {reason}")]
    BadPattern { pattern: String, reason: String },
    /// An upload the server refused, or that failed every attempt. `reason` never holds a header
    /// value.
    #[error("PUT {url} failed: {reason}")]
    Upload {
        url: String,
        reason: String,
        hint: Option<String>,
    },
    /// Something Packer does that imgs does not yet; the text names it.
    #[error("{0}")]
    Unsupported(String),
    #[error("cancelled")]
    Cancelled,
}

impl PostError {
    pub fn io(action: &'static str, path: &std::path::Path, e: std::io::Error) -> Self {
        PostError::Io {
            action,
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }

    /// What a person can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            PostError::OneFileOnly { .. } => Some(
                "name the output `….tar.gz` (or `.zip`) to pack several files into one archive"
                    .into(),
            ),
            PostError::ExitCode { .. } => Some(
                "its output is above; list other acceptable codes in `valid_exit_codes`".into(),
            ),
            PostError::Upload { hint, .. } => hint.clone(),
            _ => None,
        }
    }
}
