//! Who runs a build: imgs itself, or the installed `packer`.

use std::collections::BTreeMap;
use std::fmt;

/// The engine that runs one build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Engine {
    /// imgs's own builders, provisioners and post-processors.
    Native,
    /// `packer build`, for a build using a type imgs does not run (or asked for in Images.toml).
    Packer,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Native => "native",
            Engine::Packer => "packer",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What Images.toml asks for a build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EngineChoice {
    /// Natively when imgs runs every type the build uses, else Packer.
    #[default]
    Auto,
    /// Natively, and an error when imgs does not run a type the build uses.
    Native,
    /// Packer, even when imgs could run the build itself.
    Packer,
}

impl EngineChoice {
    /// The value as Images.toml spells it; `None` for any other text.
    pub fn parse(text: &str) -> Option<EngineChoice> {
        match text {
            "auto" => Some(EngineChoice::Auto),
            "native" => Some(EngineChoice::Native),
            "packer" => Some(EngineChoice::Packer),
            _ => None,
        }
    }
}

/// An image's engine settings: one choice for all its builds, and choices for builds by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineChoices {
    pub all: EngineChoice,
    /// Build name (rendered, as `-only` takes it) → choice.
    pub builds: BTreeMap<String, EngineChoice>,
}

impl EngineChoices {
    /// The choice for the build named `build`.
    pub fn of(&self, build: &str) -> EngineChoice {
        self.builds.get(build).copied().unwrap_or(self.all)
    }
}
