//! Packer 1.6.6 JSON templates: located parsing, variables, template functions, validation, referenced files.

pub mod interpolate;
pub mod json;
pub mod schema;

pub use json::{Member, Node, Value, parse_json};
