//! `[images.NAME.publish]`: what publishing the image to a channel does beyond moving the channel
//! (`imgs build --channel NAME`, `imgs publish --channel NAME`).
//!
//! ```toml
//! [images.app.publish]
//! ssm_parameter = "/images/{channel}/{image}"   # a String parameter holding the AMI ID, per region
//! launch_permission_accounts = ["123456789012"] # may launch the AMI
//! launch_permission_groups = ["all"]            # "all" makes it public
//! docker_repository = "registry:5000/app"       # a docker image is tagged <repo>:<channel> and pushed
//! ```

use std::path::Path;

use imgs_diagnostic::{Diagnostic, Location};
use serde::Deserialize;
use toml::Spanned;

/// `[images.NAME.publish]`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishTable {
    pub ssm_parameter: Option<Spanned<String>>,
    #[serde(default)]
    pub launch_permission_accounts: Vec<Spanned<String>>,
    #[serde(default)]
    pub launch_permission_groups: Vec<Spanned<String>>,
    pub docker_repository: Option<Spanned<String>>,
}

/// What publishing an image does beyond the channel tag, as validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishSettings {
    /// With `{channel}` and `{image}` in it.
    pub ssm_parameter: Option<String>,
    pub launch_permission_accounts: Vec<String>,
    pub launch_permission_groups: Vec<String>,
    pub docker_repository: Option<String>,
}

impl PublishSettings {
    /// The SSM parameter's name for `channel` and `image`.
    pub fn ssm_parameter_for(&self, channel: &str, image: &str) -> Option<String> {
        self.ssm_parameter
            .as_ref()
            .map(|p| p.replace("{channel}", channel).replace("{image}", image))
    }
}

/// Whether `name` may be a channel: it is part of a tag key, an SSM parameter name and a file name.
pub fn check_channel_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("a channel name has 1 to 64 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "`{c}` is not allowed in a channel name (letters, digits, `-`, `_` and `.`)"
        ));
    }
    if name.starts_with('.') {
        return Err("a channel name does not start with `.`".into());
    }
    Ok(())
}

/// Reads `[images.IMAGE.publish]`; every error is located at its value with the key and a hint.
pub(crate) fn read(
    path: &Path,
    text: &str,
    image: &str,
    table: &PublishTable,
) -> Result<PublishSettings, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let located = |message: String, key: &str, offset: usize, hint: &str| {
        Diagnostic::error(message)
            .at(Location::at(path, text, offset))
            .key(format!("images.{image}.publish.{key}"))
            .hint(hint.to_string())
    };
    if let Some(parameter) = &table.ssm_parameter {
        // Checked as the name it becomes for a plain channel name.
        let sample = parameter
            .get_ref()
            .replace("{channel}", "c")
            .replace("{image}", "i");
        let bad = sample
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')));
        let why = if let Some(c) = bad {
            Some(format!("`{c}` is not allowed in an SSM parameter name"))
        } else if sample.is_empty() {
            Some("the name is empty".to_string())
        } else if sample.contains('/') && !sample.starts_with('/') {
            Some("a name with `/` in it starts with `/`".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            errors.push(located(
                format!("`{}` is not an SSM parameter name: {why}", parameter.get_ref()),
                "ssm_parameter",
                parameter.span().start,
                "write a path such as \"/images/{channel}/{image}\" (letters, digits, `_ . - /`; `{channel}` and `{image}` are replaced)",
            ));
        }
    }
    for account in &table.launch_permission_accounts {
        let a = account.get_ref();
        if a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()) {
            errors.push(located(
                format!("`{a}` is not an AWS account ID"),
                "launch_permission_accounts",
                account.span().start,
                "an account ID has 12 digits: \"123456789012\"",
            ));
        }
    }
    for group in &table.launch_permission_groups {
        if group.get_ref() != "all" {
            errors.push(located(
                format!("`{}` is not a launch permission group", group.get_ref()),
                "launch_permission_groups",
                group.span().start,
                "EC2 has one group, \"all\" (the AMI becomes public)",
            ));
        }
    }
    if let Some(repository) = &table.docker_repository {
        let r = repository.get_ref();
        if r.is_empty() || r.contains(char::is_whitespace) || r.contains('@') || r.ends_with(':') {
            errors.push(located(
                format!("`{r}` is not a docker repository"),
                "docker_repository",
                repository.span().start,
                "write the repository without a tag: \"registry.example.com:5000/team/app\"",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(PublishSettings {
        ssm_parameter: table.ssm_parameter.as_ref().map(|p| p.get_ref().clone()),
        launch_permission_accounts: table
            .launch_permission_accounts
            .iter()
            .map(|a| a.get_ref().clone())
            .collect(),
        launch_permission_groups: table
            .launch_permission_groups
            .iter()
            .map(|g| g.get_ref().clone())
            .collect(),
        docker_repository: table
            .docker_repository
            .as_ref()
            .map(|r| r.get_ref().clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Result<PublishSettings, Vec<Diagnostic>> {
        let manifest = crate::manifest::parse(Path::new("Images.toml"), text).unwrap();
        let table = manifest.images.into_values().next().unwrap().into_inner();
        read(
            Path::new("Images.toml"),
            text,
            "app",
            &table.publish.unwrap().into_inner(),
        )
    }

    #[test]
    fn settings_are_read_and_the_parameter_named() {
        let s = read_text(
            "[images.app.publish]\nssm_parameter = \"/images/{channel}/{image}\"\n\
             launch_permission_accounts = [\"123456789012\"]\nlaunch_permission_groups = [\"all\"]\n",
        )
        .unwrap();
        assert_eq!(
            s.ssm_parameter_for("prod", "app").as_deref(),
            Some("/images/prod/app")
        );
        assert_eq!(s.launch_permission_accounts, ["123456789012"]);
        assert_eq!(s.launch_permission_groups, ["all"]);
    }

    #[test]
    fn bad_values_are_located_with_their_key() {
        let errors = read_text(
            "[images.app.publish]\nssm_parameter = \"images/{channel} x\"\n\
             launch_permission_accounts = [\"12\"]\nlaunch_permission_groups = [\"some\"]\n",
        )
        .unwrap_err();
        let keys: Vec<_> = errors.iter().map(|e| e.key.clone().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "images.app.publish.ssm_parameter",
                "images.app.publish.launch_permission_accounts",
                "images.app.publish.launch_permission_groups"
            ]
        );
        assert_eq!(errors[1].location.as_ref().unwrap().line, Some(3));
    }

    #[test]
    fn channel_names() {
        assert!(check_channel_name("prod").is_ok());
        assert!(check_channel_name("release-1.2_b").is_ok());
        assert!(check_channel_name("").is_err());
        assert!(check_channel_name("a/b").is_err());
        assert!(check_channel_name("..").is_err());
    }
}
