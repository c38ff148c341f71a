//! Reading settings key by key, the way Packer's decoder fills a plugin's Go struct, and collecting every
//! problem with its place, its key and a hint.

use std::collections::BTreeMap;
use std::time::Duration;

use imgs_diagnostic::{Diagnostic, Diagnostics, Location, did_you_mean};

use crate::{GoDuration, Object, Setting, Settings, Value, weak};

/// Which keys a plugin reads, for [`Decoder::check_keys`].
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyRules<'r> {
    /// "builder `qemu`": how messages name the block.
    pub what: &'r str,
    /// Keys the plugin reads.
    pub known: &'r [&'r str],
    /// Keys Packer 1.6.6 knows that imgs does not implement: an error only when set to something other
    /// than Packer's zero value, since the zero value asks for nothing.
    pub not_supported: &'r [&'r str],
    /// Keys starting with one of these belong to another reader (the communicator's `ssh_`).
    pub other_prefixes: &'r [&'r str],
    /// When set, only keys starting with it are this reader's (the SSH communicator reads `ssh_*` out
    /// of a builder's settings); the others are left alone.
    pub only_prefix: Option<&'r str>,
}

/// Reads one object of settings; problems go to the list the root decoder was made with.
pub struct Decoder<'a> {
    object: &'a Object,
    /// Where the object was written: problems about absent keys point there.
    at: Option<&'a Location>,
    /// The object's path in the template (`builders[0]`, `builders[0].launch_block_device_mappings[1]`).
    path: String,
    problems: &'a mut Vec<Diagnostic>,
}

impl Settings {
    /// Decodes these settings with `read`; every problem it met, or its result.
    pub fn decode<T>(&self, read: impl FnOnce(&mut Decoder<'_>) -> T) -> Result<T, Diagnostics> {
        let mut problems = Vec::new();
        let value = read(&mut Decoder {
            object: &self.object,
            at: self.at.as_ref(),
            path: self.path.clone(),
            problems: &mut problems,
        });
        Diagnostics::check(problems)?;
        Ok(value)
    }
}

impl<'a> Decoder<'a> {
    /// The value of `key` unless it is absent or `null` (Go's zero value either way).
    pub fn raw(&self, key: &str) -> Option<&'a Setting> {
        self.object.get(key).filter(|v| !v.is_null())
    }

    /// Whether `key` holds something other than `null`.
    pub fn is_set(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    /// Every key of the object, as written.
    pub fn keys(&self) -> impl Iterator<Item = &'a str> {
        self.object.keys()
    }

    /// The key as messages name it: `builders[0].ssh_port`.
    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Refuses every key starting with `prefix` that is set (not to its zero value): settings of a part
    /// of Packer's plugin that `what` does not implement, such as the WinRM communicator's `winrm_`
    /// keys on a builder that reaches its machine over SSH only.
    pub fn refuse_set_keys_with_prefix(&mut self, prefix: &str, what: &str) {
        let set: Vec<&str> = self
            .keys()
            .filter(|k| k.starts_with(prefix))
            .filter(|k| self.raw(k).is_some_and(|v| !v.is_zero()))
            .collect();
        for key in set {
            self.problem(
                key,
                format!("not supported yet: {key}"),
                format!("remove `{key}`; imgs's {what} does not implement it yet"),
            );
        }
    }

    /// Records a problem about `key`, located at its value (or at the object when it is absent).
    pub fn problem(&mut self, key: &str, message: impl Into<String>, hint: impl Into<String>) {
        let at = self
            .object
            .get(key)
            .and_then(|v| v.at.as_ref())
            .or(self.at)
            .cloned();
        let mut d = Diagnostic::error(message)
            .key(self.key_path(key))
            .hint(hint);
        d.location = at;
        self.problems.push(d);
    }

    /// Records a problem another reader found (one that knows keys, not places), located here.
    pub fn add(&mut self, mut problem: Diagnostic) {
        if problem.location.is_none() {
            let key = problem.key.clone().unwrap_or_default();
            problem.location = self
                .object
                .get(&key)
                .and_then(|v| v.at.as_ref())
                .or(self.at)
                .cloned();
            problem.key = Some(self.key_path(&key));
        }
        self.problems.push(problem);
    }

    /// Records problems another decoding found, as they are (already keyed and located).
    pub fn extend(&mut self, problems: Diagnostics) {
        self.problems.extend(problems.0);
    }

    /// Whether a problem has been recorded so far.
    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// Reports keys the plugin does not read: unknown ones (with the closest known key), and the ones
    /// imgs does not implement when they ask for something. `type`, `name` and `packer_*` are Packer's.
    pub fn check_keys(&mut self, rules: &KeyRules<'_>) {
        let object = self.object;
        for (key, value) in &object.entries {
            let key = key.as_str();
            if key == "type"
                || key == "name"
                || key.starts_with("packer_")
                || rules.only_prefix.is_some_and(|p| !key.starts_with(p))
                || rules.other_prefixes.iter().any(|p| key.starts_with(p))
                || rules.known.contains(&key)
            {
                continue;
            }
            if rules.not_supported.contains(&key) {
                if !value.is_zero() {
                    self.problem(
                        key,
                        format!("not supported yet: {key}"),
                        format!(
                            "remove `{key}`; imgs's {} does not implement it yet",
                            rules.what
                        ),
                    );
                }
                continue;
            }
            let known = rules.known.iter().chain(rules.not_supported).copied();
            let hint = match did_you_mean(key, known) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("Packer 1.6.6's {} has no such setting", rules.what),
            };
            self.problem(key, format!("unknown key `{key}` in {}", rules.what), hint);
        }
    }

    /// Decodes `key` with `convert`, reporting a mismatch with `hint`; `None` when absent or `null`.
    fn convert<T>(
        &mut self,
        key: &str,
        convert: fn(&Setting) -> Result<T, String>,
        hint: &str,
    ) -> Option<T> {
        let value = self.raw(key)?;
        match convert(value) {
            Ok(v) => Some(v),
            Err(why) => {
                self.problem(key, format!("invalid value for `{key}`: {why}"), hint);
                None
            }
        }
    }

    /// A string setting; `None` when absent, `null` or `""` (Packer's "unset").
    pub fn string(&mut self, key: &str) -> Option<String> {
        self.convert(key, weak::string, "write a string")
            .filter(|s| !s.is_empty())
    }

    /// A string setting that must be given: a problem naming `what` it is for when it is not.
    pub fn required(&mut self, key: &str, what: &str) -> String {
        self.string(key).unwrap_or_else(|| {
            if !self.is_set(key) || self.raw(key).is_some_and(|v| weak::string(v).is_ok()) {
                self.problem(
                    key,
                    format!("{key} must be specified"),
                    format!("set `{key}` to {what}"),
                );
            }
            String::new()
        })
    }

    /// A boolean setting; `false` when absent.
    pub fn flag(&mut self, key: &str) -> bool {
        self.trilean(key).unwrap_or(false)
    }

    /// A boolean that may also be left unset (Packer's tri-state booleans): `None` when absent, `null`
    /// or `""`.
    pub fn trilean(&mut self, key: &str) -> Option<bool> {
        if matches!(self.raw(key)?.value, Value::String(ref s) if s.is_empty()) {
            return None;
        }
        self.convert(key, weak::bool, "write `true` or `false`")
    }

    /// An integer setting (Go's `strconv.ParseInt` with base 0 for strings: `"0x2"` is 2); `None` when
    /// absent, `null` or `""`.
    pub fn int(&mut self, key: &str) -> Option<i64> {
        if matches!(self.raw(key)?.value, Value::String(ref s) if s.is_empty()) {
            return None;
        }
        self.convert(key, weak::int, "write a whole number such as 2")
    }

    /// A count where 0 (or unset) means the plugin's default: `None` then.
    pub fn positive(&mut self, key: &str) -> Option<u32> {
        match self.int(key)? {
            0 => None,
            n => u32::try_from(n).ok().or_else(|| {
                self.problem(
                    key,
                    format!("{key} must be a positive number, not {n}"),
                    "write a whole number such as 2",
                );
                None
            }),
        }
    }

    /// A TCP port; 0 (or unset) is `None`.
    pub fn port(&mut self, key: &str) -> Option<u16> {
        match self.int(key)? {
            0 => None,
            n => u16::try_from(n).ok().or_else(|| {
                self.problem(
                    key,
                    format!("{key} {n} is not a port number"),
                    "use a number from 1 to 65535",
                );
                None
            }),
        }
    }

    /// A Go duration as written, sign included; `None` when absent, `null` or `""`.
    pub fn go_duration(&mut self, key: &str) -> Option<GoDuration> {
        if matches!(self.raw(key)?.value, Value::String(ref s) if s.is_empty()) {
            return None;
        }
        self.convert(
            key,
            weak::duration,
            "write a duration such as \"30s\", \"5m\" or \"1h30m\"",
        )
    }

    /// A duration that is neither negative nor zero; `None` otherwise (the plugin's default applies).
    pub fn duration(&mut self, key: &str) -> Option<Duration> {
        self.go_duration(key)
            .and_then(GoDuration::to_std)
            .filter(|d| !d.is_zero())
    }

    /// A list of strings (a string is split on commas); empty when absent.
    pub fn strings(&mut self, key: &str) -> Vec<String> {
        self.convert(key, weak::strings, "write [\"a\", \"b\"]")
            .unwrap_or_default()
    }

    /// A list of strings, `None` when absent (Go's nil slice, which some plugins tell from empty).
    pub fn strings_if_set(&mut self, key: &str) -> Option<Vec<String>> {
        self.convert(key, weak::strings, "write [\"a\", \"b\"]")
    }

    /// A list of integers; empty when absent.
    pub fn ints(&mut self, key: &str) -> Vec<i64> {
        self.convert(key, weak::ints, "write [1, 2]")
            .unwrap_or_default()
    }

    /// A list of lists of strings (`qemuargs`); empty when absent.
    pub fn string_lists(&mut self, key: &str) -> Vec<Vec<String>> {
        self.convert(key, weak::string_lists, "write [[\"-flag\", \"value\"]]")
            .unwrap_or_default()
    }

    /// An object of strings (tags, filters); empty when absent.
    pub fn map(&mut self, key: &str) -> BTreeMap<String, String> {
        self.convert(key, weak::map, "write {\"Name\": \"value\"}")
            .map(|entries| entries.into_iter().collect())
            .unwrap_or_default()
    }

    /// A string that must be one of `allowed`; `None` when absent or not allowed (a problem then).
    pub fn one_of(&mut self, key: &str, allowed: &[&str]) -> Option<String> {
        let value = self.string(key)?;
        if allowed.contains(&value.as_str()) {
            Some(value)
        } else {
            self.problem(
                key,
                format!("unrecognized {key} `{value}`"),
                format!("use one of: {}", allowed.join(", ")),
            );
            None
        }
    }

    /// Reads the object held by `key` with `read`; `None` when absent (a problem when it is not an
    /// object).
    pub fn object<T>(&mut self, key: &str, read: impl FnOnce(&mut Decoder<'_>) -> T) -> Option<T> {
        let value = self.raw(key)?;
        match &value.value {
            Value::Object(object) => {
                let path = self.key_path(key);
                Some(read(&mut Decoder {
                    object,
                    at: value.at.as_ref().or(self.at),
                    path,
                    problems: self.problems,
                }))
            }
            _ => {
                self.problem(
                    key,
                    format!(
                        "invalid value for `{key}`: expected an object, got {}",
                        value.describe()
                    ),
                    "write {\"key\": \"value\"}",
                );
                None
            }
        }
    }

    /// Reads each object of the list held by `key` with `read` (a single object is a list of one, `""`
    /// and `{}` are empty, as in Packer).
    pub fn objects<T>(&mut self, key: &str, mut read: impl FnMut(&mut Decoder<'_>) -> T) -> Vec<T> {
        let Some(value) = self.raw(key) else {
            return Vec::new();
        };
        let path = self.key_path(key);
        let items: Vec<(String, &Setting)> = match &value.value {
            Value::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{path}[{i}]"), item))
                .collect(),
            Value::Object(object) if object.entries.is_empty() => Vec::new(),
            Value::Object(_) => vec![(format!("{path}[0]"), value)],
            Value::String(s) if s.is_empty() => Vec::new(),
            _ => {
                self.problem(
                    key,
                    format!(
                        "invalid value for `{key}`: expected a list of objects, got {}",
                        value.describe()
                    ),
                    "write [{\"key\": \"value\"}]",
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (item_path, item) in items {
            match &item.value {
                Value::Object(object) => out.push(read(&mut Decoder {
                    object,
                    at: item.at.as_ref().or(self.at),
                    path: item_path,
                    problems: self.problems,
                })),
                Value::Null => {}
                _ => {
                    let mut d = Diagnostic::error(format!(
                        "invalid value for `{key}`: expected a list of objects, got {} in it",
                        item.describe()
                    ))
                    .key(item_path)
                    .hint("write [{\"key\": \"value\"}]");
                    d.location = item.at.clone().or_else(|| self.at.cloned());
                    self.problems.push(d);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(json: serde_json::Value) -> Settings {
        let mut s = Settings::from_json(&json);
        s.path = "builders[0]".into();
        s
    }

    fn messages(d: Diagnostics) -> Vec<String> {
        d.0.iter()
            .map(|d| format!("{}: {}", d.key.clone().unwrap_or_default(), d.message))
            .collect()
    }

    #[test]
    fn values_read_as_packer_reads_them() {
        let s = settings(json!({
            "cpus": "0x2", "memory": 1024.0, "headless": "t", "name_list": "a,b",
            "timeout": "1m30s", "empty": "", "tags": [{"a": 1}, {"b": true}], "port": "2222",
        }));
        let read = s
            .decode(|d| {
                (
                    d.int("cpus"),
                    d.string("memory"),
                    d.flag("headless"),
                    d.strings("name_list"),
                    d.duration("timeout"),
                    d.string("empty"),
                    d.map("tags"),
                    d.port("port"),
                    d.int("absent"),
                )
            })
            .unwrap();
        assert_eq!(read.0, Some(2), "Go's base-0 integers");
        assert_eq!(read.1.as_deref(), Some("1024"));
        assert!(read.2);
        assert_eq!(read.3, ["a", "b"]);
        assert_eq!(read.4, Some(Duration::from_secs(90)));
        assert_eq!(read.5, None, "\"\" is unset");
        assert_eq!(
            read.6,
            BTreeMap::from([("a".into(), "1".into()), ("b".into(), "1".into())])
        );
        assert_eq!(read.7, Some(2222));
        assert_eq!(read.8, None);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let s = settings(json!({
            "cpus": "two", "headless": "yes", "timeout": "10", "ssh_port": 70000,
            "blocks": [{"size": "x"}, 5], "cpu": 1, "boot_command": ["<enter>"], "vnc_port_min": 0,
        }));
        let err = s
            .decode(|d| {
                d.check_keys(&KeyRules {
                    what: "builder `qemu`",
                    known: &["cpus", "headless", "timeout", "blocks"],
                    not_supported: &["boot_command", "vnc_port_min"],
                    other_prefixes: &["ssh_"],
                    only_prefix: None,
                });
                d.int("cpus");
                d.flag("headless");
                d.duration("timeout");
                d.port("ssh_port");
                d.objects("blocks", |b| b.int("size"));
            })
            .unwrap_err();
        insta::assert_snapshot!(messages(err).join("\n"), @r#"
        builders[0].cpu: unknown key `cpu` in builder `qemu`
        builders[0].boot_command: not supported yet: boot_command
        builders[0].cpus: invalid value for `cpus`: expected an integer, got the string "two"
        builders[0].headless: invalid value for `headless`: expected a boolean, got the string "yes"
        builders[0].timeout: invalid value for `timeout`: time: missing unit in duration "10"
        builders[0].ssh_port: ssh_port 70000 is not a port number
        builders[0].blocks[0].size: invalid value for `size`: expected an integer, got the string "x"
        builders[0].blocks[1]: invalid value for `blocks`: expected a list of objects, got the number 5 in it
        "#);
    }

    #[test]
    fn problems_point_at_the_value_or_else_the_block() {
        let at = |line| Some(Location::at_line_col("t.json", line, 3));
        let mut object = Object::default();
        object.set(
            "cpus",
            Setting {
                value: Value::String("two".into()),
                at: at(4),
            },
        );
        let s = Settings::new(object, at(2), "builders[0]");
        let err = s
            .decode(|d| {
                d.int("cpus");
                d.required("iso_url", "the disk to start from");
            })
            .unwrap_err();
        let lines: Vec<_> = err
            .0
            .iter()
            .map(|d| d.location.clone().unwrap().line)
            .collect();
        assert_eq!(lines, [Some(4), Some(2)]);
    }
}
