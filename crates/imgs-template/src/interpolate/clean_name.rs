//! `clean_resource_name`: each cloud's builders clean names by their own rule. Packer works byte by byte,
//! so a multi-byte character becomes one `-` per byte; that is kept so names match Packer's.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rule {
    /// EC2 AMI names (and Outscale): letters, digits and `()[] ./-'@_`; case kept.
    Ami,
    /// Azure image names: letters, digits and `._-`; trailing `-_.` removed.
    Azure,
    /// GCE and Yandex: lower-case letters, digits and `-`; upper case lowered. Names already valid
    /// (`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`) pass unchanged.
    LowerDashed,
}

/// The rule of the builder type, if that builder defines the function.
pub(super) fn rule_for(build_type: &str) -> Option<Rule> {
    match build_type {
        "amazon-chroot"
        | "amazon-ebs"
        | "amazon-ebssurrogate"
        | "amazon-ebsvolume"
        | "amazon-instance"
        | "osc-bsu"
        | "osc-bsusurrogate"
        | "osc-bsuvolume"
        | "osc-chroot" => Some(Rule::Ami),
        "azure-arm" | "azure-chroot" | "azure-dtl" => Some(Rule::Azure),
        "googlecompute" | "yandex" => Some(Rule::LowerDashed),
        _ => None,
    }
}

pub(super) fn clean(rule: Rule, name: &str) -> String {
    match rule {
        Rule::Ami => replace_bytes(name, |b| {
            b.is_ascii_alphanumeric() || b"()[] ./-'@_".contains(&b)
        }),
        Rule::Azure => {
            let cleaned = replace_bytes(name, |b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            cleaned.trim_end_matches(['-', '_', '.']).to_owned()
        }
        Rule::LowerDashed => {
            if is_valid_gce_name(name) {
                return name.to_owned();
            }
            replace_bytes(&name.to_lowercase(), |b| {
                b.is_ascii_lowercase() || b.is_ascii_digit()
            })
        }
    }
}

fn replace_bytes(name: &str, allowed: impl Fn(u8) -> bool) -> String {
    name.bytes()
        .map(|b| if allowed(b) { b as char } else { '-' })
        .collect()
}

fn is_valid_gce_name(name: &str) -> bool {
    let b = name.as_bytes();
    let inner_ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    match b {
        [] => false,
        [first] => first.is_ascii_lowercase(),
        [first, middle @ .., last] => {
            b.len() <= 63
                && first.is_ascii_lowercase()
                && middle.iter().all(inner_ok)
                && (last.is_ascii_lowercase() || last.is_ascii_digit())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ami_names_keep_case_and_allowed_punctuation() {
        assert_eq!(
            clean(Rule::Ami, "My AMI (v1) [x] a/b-c'd@e_f.g"),
            "My AMI (v1) [x] a/b-c'd@e_f.g"
        );
        assert_eq!(clean(Rule::Ami, "app:1,2*"), "app-1-2-");
        assert_eq!(clean(Rule::Ami, "é"), "--");
    }

    #[test]
    fn azure_names_trim_trailing_separators() {
        assert_eq!(clean(Rule::Azure, "Image Name 1.0!"), "Image-Name-1.0");
        assert_eq!(clean(Rule::Azure, "a_b._-"), "a_b");
    }

    #[test]
    fn gce_names_are_lowered_unless_already_valid() {
        assert_eq!(
            clean(Rule::LowerDashed, "already-valid-1"),
            "already-valid-1"
        );
        assert_eq!(
            clean(Rule::LowerDashed, "Packer Image_2020.01"),
            "packer-image-2020-01"
        );
        assert_eq!(clean(Rule::LowerDashed, "1abc"), "1abc");
        assert_eq!(clean(Rule::LowerDashed, "abc-"), "abc-");
    }

    #[test]
    fn only_cloud_builders_define_it() {
        assert_eq!(rule_for("amazon-ebs"), Some(Rule::Ami));
        assert_eq!(rule_for("googlecompute"), Some(Rule::LowerDashed));
        assert_eq!(rule_for("qemu"), None);
    }
}
