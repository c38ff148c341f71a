//! Plugin settings, decoded the way Packer 1.6.6 decodes them.
//!
//! Packer renders every string of a plugin's configuration, then decodes the result into the plugin's Go
//! struct with `mapstructure` in weakly typed mode: a number or a boolean is accepted where a string is
//! expected, a string where a number or a flag is (read by Go's `strconv`: `"0x1F"` is 31, `"010"` is 8,
//! `"t"` is true), a string where a list is (split on commas), and a duration is a Go duration string or a
//! number of nanoseconds. Every reader of plugin settings in imgs goes through this crate, so `imgs
//! validate` and the plugin that later runs agree on what a value means:
//!
//! - [`Settings`] is a plugin's configuration after rendering: an object of [`Setting`]s, each remembering
//!   where it was written (file:line:column), whatever the template's syntax was;
//! - [`Decoder`] reads it key by key with Packer's weak typing ([`weak`] holds the conversions) and
//!   collects every problem as a located [`Diagnostic`](imgs_diagnostic::Diagnostic), with the key and a
//!   hint, so one run reports them all;
//! - [`ValueType`] declares the shape a key takes, for the checks `imgs validate` makes before anything runs;
//! - [`go`] and [`parse_go_duration`] are Go's own readings of text (`strconv`, `time.ParseDuration`).

mod decoder;
mod duration;
pub mod go;
mod value;
mod value_type;
pub mod weak;

pub use decoder::{Decoder, KeyRules};
pub use duration::{DurationError, GoDuration, human_duration, parse_go_duration};
pub use value::{Object, Setting, Settings, Value};
pub use value_type::ValueType;
