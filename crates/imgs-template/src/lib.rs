//! Packer 1.6.6 JSON templates: located parsing, variables, template functions, validation, referenced files.

pub mod canonical;
pub mod duration;
pub mod interpolate;
pub mod json;
pub mod model;
pub mod references;
pub mod schema;
mod source;
mod ssh_key;
pub mod validate;
pub mod variables;
mod version;

pub use canonical::canonical_json;
pub use duration::{DurationError, GoDuration, parse_go_duration};
pub use json::{Member, Node, Value, parse_json};
pub use model::{BuildFilter, BuilderBlock, PostProcessorBlock, ProvisionerBlock, Template, VariableDecl};
pub use references::{Expect, FileReference, referenced_files};
pub use validate::{check, validate};
pub use variables::{Invocation, ResolvedVariables, VarFile, resolve_variables};
