//! `min_packer_version`, read and compared as Packer does (HashiCorp's go-version rules): an optional `v`,
//! dot-separated numbers, an optional pre-release (`-rc1`, or letters straight after the numbers) and
//! optional `+metadata`. Missing segments count as zero; a pre-release sorts before its release.

use std::cmp::Ordering;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    segments: Vec<u64>,
    prerelease: Option<String>,
}

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let rest = text.strip_prefix('v').unwrap_or(text);
        let (rest, metadata) = match rest.split_once('+') {
            Some((rest, metadata)) => (rest, Some(metadata)),
            None => (rest, None),
        };
        if metadata.is_some_and(|m| !valid_identifiers(m)) {
            return None;
        }
        let numeric_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (numbers, pre) = rest.split_at(numeric_len);
        // A trailing dot belongs to neither part in go-version's pattern.
        if numbers.is_empty() || numbers.ends_with('.') {
            return None;
        }
        let segments = numbers
            .split('.')
            .map(|s| s.parse().ok())
            .collect::<Option<Vec<u64>>>()?;
        let prerelease = match pre {
            "" => None,
            _ => {
                let body = pre.strip_prefix('-').unwrap_or(pre);
                let starts_ok = if pre.starts_with('-') {
                    body.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '~')
                } else {
                    body.starts_with(|c: char| c.is_ascii_alphabetic() || c == '-' || c == '~')
                };
                if !starts_ok || !valid_identifiers(body) {
                    return None;
                }
                Some(body.to_string())
            }
        };
        Some(Version {
            segments,
            prerelease,
        })
    }

    /// The version as go-version prints it: three segments at least, then `-pre`.
    pub fn display(&self) -> String {
        let mut segments = self.segments.clone();
        segments.resize(segments.len().max(3), 0);
        let mut out = segments
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".");
        if let Some(pre) = &self.prerelease {
            out.push('-');
            out.push_str(pre);
        }
        out
    }
}

fn valid_identifiers(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '~')
        })
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.segments.len().max(other.segments.len());
        for i in 0..len {
            let a = self.segments.get(i).copied().unwrap_or(0);
            let b = other.segments.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        match (&self.prerelease, &other.prerelease) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => a.cmp(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn parses_go_version_forms() {
        assert_eq!(v("1.7").display(), "1.7.0");
        assert_eq!(v("v1.6.6-rc1+abc").display(), "1.6.6-rc1");
        assert_eq!(v("1.6.6beta").display(), "1.6.6-beta");
        for bad in ["abc", "", "1.", "1..2", "1.6.6-", "1.6.6+", "1.6 "] {
            assert!(Version::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn compares_like_packer() {
        let actual = v("1.6.6");
        assert!(actual >= v("1.6.6"));
        assert!(actual >= v("1.6"));
        assert!(actual >= v("1.6.6-rc1"));
        assert!(actual < v("1.6.7"));
        assert!(actual < v("1.7"));
        assert!(actual >= v("1.6.5.9"));
    }
}
