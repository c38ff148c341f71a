//! `[workspace.cache]`: the shared second level of the cache, in S3.
//!
//! ```toml
//! [workspace.cache]
//! remote = "s3://bucket/prefix"   # where records and artifact files are shared
//! region = "eu-west-1"            # optional; else the AWS environment's region, else us-east-1
//! endpoint = "http://127.0.0.1:9000"  # optional: an S3-compatible server (path-style addressing)
//! ```
//!
//! Only the settings are read here; talking to S3 is imgs-aws's, and what to fetch imgs-ops'.

use std::path::Path;

use imgs_diagnostic::{Diagnostic, Location};
use toml::Spanned;

use crate::manifest::CacheTable;

/// The remote cache a workspace shares, as validated from `[workspace.cache]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteCache {
    pub bucket: String,
    /// The key prefix every object is under, without leading or trailing `/` (may be empty).
    pub prefix: String,
    pub region: Option<String>,
    /// An S3-compatible endpoint in place of AWS's.
    pub endpoint: Option<String>,
}

impl RemoteCache {
    /// `s3://bucket/prefix`, as written in Images.toml.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Reads `[workspace.cache]`; every error is located at its value with the key and a hint.
pub(crate) fn read(
    path: &Path,
    text: &str,
    table: &Spanned<CacheTable>,
) -> Result<Option<RemoteCache>, Vec<Diagnostic>> {
    let table_ref = table.get_ref();
    let located = |message: String, key: &str, offset: usize, hint: &str| {
        Diagnostic::error(message)
            .at(Location::at(path, text, offset))
            .key(format!("workspace.cache.{key}"))
            .hint(hint.to_string())
    };
    let mut errors = Vec::new();
    let Some(remote) = &table_ref.remote else {
        if table_ref.region.is_some() || table_ref.endpoint.is_some() {
            errors.push(
                Diagnostic::error("[workspace.cache] has settings but no `remote`")
                    .at(Location::at(path, text, table.span().start))
                    .key("workspace.cache.remote")
                    .hint("add `remote = \"s3://BUCKET/PREFIX\"`, or remove the table"),
            );
            return Err(errors);
        }
        return Ok(None);
    };
    let (bucket, prefix) = match parse_s3_url(remote.get_ref()) {
        Ok(parsed) => parsed,
        Err(why) => {
            errors.push(located(
                format!("`{}` is not an S3 location: {why}", remote.get_ref()),
                "remote",
                remote.span().start,
                "write `remote = \"s3://BUCKET/PREFIX\"` (the prefix is optional)",
            ));
            (String::new(), String::new())
        }
    };
    let region = table_ref
        .region
        .as_ref()
        .map(|r| r.get_ref().trim().to_string());
    if let (Some(r), Some(region)) = (&table_ref.region, &region)
        && (region.is_empty()
            || region.contains(|c: char| !(c.is_ascii_alphanumeric() || c == '-')))
    {
        errors.push(located(
            format!("`{}` is not a region name", r.get_ref()),
            "region",
            r.span().start,
            "an AWS region such as `us-east-1`; leave it out to use the environment's",
        ));
    }
    let endpoint = table_ref
        .endpoint
        .as_ref()
        .map(|e| e.get_ref().trim().to_string());
    if let (Some(e), Some(endpoint)) = (&table_ref.endpoint, &endpoint)
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        errors.push(located(
            format!(
                "endpoint `{}` has no http:// or https:// scheme",
                e.get_ref()
            ),
            "endpoint",
            e.span().start,
            "write the URL of an S3-compatible server, such as `http://127.0.0.1:9000`",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Some(RemoteCache {
        bucket,
        prefix,
        region,
        endpoint,
    }))
}

/// `s3://bucket[/prefix]` into the bucket and the prefix (no leading or trailing `/`), the bucket
/// checked against S3's naming rules.
fn parse_s3_url(url: &str) -> Result<(String, String), String> {
    let Some(rest) = url.strip_prefix("s3://") else {
        return Err(match url.split_once("://") {
            Some((scheme, _)) => format!("the scheme is `{scheme}`, and only `s3` is supported"),
            None => "it does not start with `s3://`".to_string(),
        });
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    check_bucket(bucket)?;
    let prefix = prefix.trim_matches('/');
    if prefix
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
        && !prefix.is_empty()
    {
        return Err(format!(
            "the prefix `{prefix}` has an empty, `.` or `..` part"
        ));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// S3's bucket naming rules: 3 to 63 lowercase letters, digits, dots and hyphens, starting and
/// ending with a letter or digit, and not an IP address.
fn check_bucket(bucket: &str) -> Result<(), String> {
    if bucket.is_empty() {
        return Err("it names no bucket".to_string());
    }
    if !(3..=63).contains(&bucket.len()) {
        return Err(format!(
            "the bucket name `{bucket}` has {} characters (S3 allows 3 to 63)",
            bucket.len()
        ));
    }
    if let Some(c) = bucket
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Err(format!(
            "the bucket name `{bucket}` contains `{c}` (S3 allows lowercase letters, digits, `.` and `-`)"
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(bucket.chars().next()) || !edge_ok(bucket.chars().last()) {
        return Err(format!(
            "the bucket name `{bucket}` must start and end with a letter or digit"
        ));
    }
    if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(format!("the bucket name `{bucket}` is an IP address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_bucket_and_prefix() {
        assert_eq!(
            parse_s3_url("s3://imgs-cache/team/ci/").unwrap(),
            ("imgs-cache".into(), "team/ci".into())
        );
        assert_eq!(
            parse_s3_url("s3://imgs-cache").unwrap(),
            ("imgs-cache".into(), "".into())
        );
        assert!(parse_s3_url("gs://b/p").unwrap_err().contains("`gs`"));
        assert!(
            parse_s3_url("s3://Bad_Bucket/p")
                .unwrap_err()
                .contains("`B`")
        );
        assert!(parse_s3_url("s3://ab").unwrap_err().contains("3 to 63"));
        assert!(
            parse_s3_url("s3://b-c-/x")
                .unwrap_err()
                .contains("start and end")
        );
        assert!(
            parse_s3_url("s3://10.0.0.1/x")
                .unwrap_err()
                .contains("IP address")
        );
        assert!(
            parse_s3_url("s3://bucket/a//b")
                .unwrap_err()
                .contains("empty")
        );
        assert!(
            parse_s3_url("s3://bucket/a/../b")
                .unwrap_err()
                .contains("`..`")
        );
    }

    #[test]
    fn errors_are_located_with_key_and_hint() {
        let text = "[workspace]\nmembers = [\"images/*\"]\n\n[workspace.cache]\nremote = \"https://x/y\"\nendpoint = \"127.0.0.1:9000\"\n";
        let manifest = crate::manifest::parse(Path::new("Images.toml"), text).unwrap();
        let ws = manifest.workspace.unwrap().into_inner();
        let errors = read(Path::new("Images.toml"), text, ws.cache.as_ref().unwrap()).unwrap_err();
        assert_eq!(errors.len(), 2);
        let remote = &errors[0];
        assert_eq!(remote.key.as_deref(), Some("workspace.cache.remote"));
        assert_eq!(remote.location.as_ref().unwrap().line, Some(5));
        assert!(remote.message.contains("`https`"), "{}", remote.message);
        assert!(remote.hint.is_some());
        assert_eq!(errors[1].key.as_deref(), Some("workspace.cache.endpoint"));
    }

    #[test]
    fn a_valid_table_reads() {
        let text = "[workspace]\nmembers = []\n[workspace.cache]\nremote = \"s3://imgs-cache/ci\"\nregion = \"eu-west-1\"\nendpoint = \"http://127.0.0.1:5000\"\n";
        let manifest = crate::manifest::parse(Path::new("Images.toml"), text).unwrap();
        let ws = manifest.workspace.unwrap().into_inner();
        let remote = read(Path::new("Images.toml"), text, ws.cache.as_ref().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(remote.url(), "s3://imgs-cache/ci");
        assert_eq!(remote.region.as_deref(), Some("eu-west-1"));
        assert_eq!(remote.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
    }
}
