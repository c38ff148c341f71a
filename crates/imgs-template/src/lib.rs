//! Packer 1.6.6 JSON templates: located parsing, variables, template functions, validation, referenced files.

pub mod interpolate;
pub mod schema;
