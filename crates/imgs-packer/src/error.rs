/// What went wrong running Packer.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackerError {
    #[error("`{program}` is not installed (or not on PATH)")]
    NotInstalled { program: String },
    #[error("cannot run `{program}`: {reason}")]
    Spawn { program: String, reason: String },
    #[error("`{program}` is Packer {found}; imgs runs Packer 1.6.6 or later")]
    Version { program: String, found: String },
    #[error("packer build exited with status {status}{}", listed(errors))]
    BuildFailed { status: String, errors: Vec<String> },
    #[error("cancelled")]
    Cancelled,
}

fn listed(errors: &[String]) -> String {
    match errors {
        [] => String::new(),
        [one] => format!(": {one}"),
        many => format!(": {}", many.join("; ")),
    }
}

impl PackerError {
    /// What a person can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            PackerError::NotInstalled { .. } | PackerError::Version { .. } => Some(format!(
                "install Packer 1.6.6 or later (Debian: `apt install packer`), or name the program in {}",
                crate::program::PROGRAM_VAR
            )),
            _ => None,
        }
    }
}
