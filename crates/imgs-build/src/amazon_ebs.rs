//! The `amazon-ebs` builder over `imgs-aws`: an EC2 instance launched from the source AMI, provisioned
//! over SSH, stopped and made into an AMI (copied to `ami_regions`). Its artifact is Packer's: the ID
//! lists `region:ami-…` pairs, and a child image receives the AMI of the build region.
//!
//! Everything the build creates is removed by [`Builder::cleanup`], which the build runs after success,
//! failure and cancellation; a failed build also deregisters any AMI it had made.

use std::path::Path;
use std::sync::Arc;

use imgs_aws::{ClientSettings, EbsBuild, EbsConfig, ImgsTags, RenderDeferred};
use imgs_diagnostic::Diagnostics;
use imgs_provision::{Communicator, ReconnectingSsh};
use imgs_template::interpolate::{Context, OwnedContext, RenderScope, Volatile};
use imgs_template::{BuildFilter, ResolvedVariables, Template};
use tokio_util::sync::CancellationToken;

use crate::builder::{Builder, Log};
use crate::null::rooted_key_files;
use crate::prepare::RunLabels;
use crate::qemu::rooted;
use crate::settings::Settings;
use crate::{Artifact, BuildError};

pub struct AmazonEbsBuilder {
    build: EbsBuild,
}

/// Reads the builder's settings; the keys Packer renders only at build time stay as written.
pub fn read_settings<'a>(
    template: &'a imgs_template::Template,
    block_key: String,
    config: &imgs_template::Node,
    ctx: &Context<'_>,
) -> Result<Settings<'a>, Diagnostics> {
    Settings::render_deferring(
        template,
        block_key,
        config,
        ctx,
        crate::registry::deferred_keys("amazon-ebs"),
    )
}

pub fn read(
    settings: &Settings<'_>,
    build_name: &str,
    working_dir: &Path,
    ctx: &Context<'_>,
    labels: &RunLabels,
) -> Result<AmazonEbsBuilder, Diagnostics> {
    let mut config = EbsConfig::from_settings(&settings.located, build_name)?;
    crate::lock_inputs::apply_locked(&mut config, build_name, &labels.locked_sources);
    // The process may run anywhere; the template's relative paths mean the working directory.
    config.ssh_settings = rooted_key_files(config.ssh_settings, working_dir);
    if let Some(file) = &config.user_data_file {
        config.user_data_file = Some(rooted(working_dir, file));
    }
    // Build data (`SourceAMI`, `BuildRegion`) exists only once the build runs; the build renders these.
    let deferred = OwnedContext::of(ctx);
    let render_deferred: RenderDeferred = Arc::new(move |text, data| deferred.render(text, data));
    let tags = ImgsTags {
        run_id: labels.run_id.clone(),
        image: labels.image.clone(),
        fingerprint: labels.fingerprint.clone(),
    };
    Ok(AmazonEbsBuilder {
        build: EbsBuild::new(config, tags, render_deferred),
    })
}

/// Where one amazon-ebs build of an image puts its AMIs, and as whom EC2 is asked about them.
#[derive(Clone, Debug, PartialEq)]
pub struct AwsTarget {
    /// The build's name (rendered), as in records and manifests.
    pub build: String,
    /// Its builder type, as in records.
    pub builder_type: String,
    /// Credentials, endpoint and build region (`client.region`).
    pub client: ClientSettings,
    /// The build region first (unless `skip_save_build_region`), then `ami_regions` in the order
    /// given (without repeats).
    pub regions: Vec<String>,
}

/// The EC2 places of a template's selected amazon-ebs builds, in template order (other builders have
/// none), read by the same reader a build uses, so a plan looks where the build would put its AMIs.
///
/// `variables` are resolved as for planning: a parent variable may hold a placeholder instead of an
/// AMI ID (the parent may not exist yet), which reading accepts since `source_ami` is only checked
/// against EC2 at launch. Times and UUIDs render as placeholders: no target depends on them.
pub fn aws_targets(
    template: &Template,
    variables: &ResolvedVariables,
    filter: &BuildFilter,
    working_dir: &Path,
) -> Result<Vec<AwsTarget>, Diagnostics> {
    let scope = RenderScope::new(
        template,
        working_dir,
        &variables.values,
        Volatile::Placeholder,
    );
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for (index, block) in template.builders.iter().enumerate() {
        if block.kind != "amazon-ebs" || !filter.selects(&block.name) {
            continue;
        }
        let name = scope.build_name(block);
        let ctx = scope.build_context(&name, &block.kind);
        let read = read_settings(template, format!("builders[{index}]"), &block.config, &ctx)
            .and_then(|settings| EbsConfig::from_settings(&settings.located, &name));
        match read {
            Ok(config) => {
                // `skip_save_build_region` keeps no AMI in the build region.
                let mut regions = Vec::new();
                if !config.skip_save_build_region {
                    regions.push(config.client.region.clone());
                }
                regions.extend(config.ami_regions);
                targets.push(AwsTarget {
                    build: name,
                    builder_type: block.kind.clone(),
                    client: config.client,
                    regions,
                });
            }
            Err(d) => problems.extend(d.0),
        }
    }
    Diagnostics::check(problems)?;
    Ok(targets)
}

#[async_trait::async_trait]
impl Builder for AmazonEbsBuilder {
    fn builder_type(&self) -> &'static str {
        "amazon-ebs"
    }

    fn has_communicator(&self) -> bool {
        self.build.config().communicator == imgs_aws::Communicator::Ssh
    }

    async fn start(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Option<Box<dyn Communicator>>, BuildError> {
        let Some(ssh) = self.build.launch(log, cancel).await? else {
            return Ok(None);
        };
        log.phase("waiting for SSH");
        log.line(&format!(
            "Using SSH communicator to connect: {}",
            ssh.address()
        ));
        let mut connected = ReconnectingSsh::connect(ssh.clone(), cancel.clone()).await?;
        if let Some(pause) = self.build.config().pause_before_connecting {
            // As Packer: connect, pause, then connect again (a first boot that reboots the
            // machine, or a service that replaces the SSH server, is over by then).
            log.line(&format!(
                "Pausing {} before connecting...",
                imgs_settings::human_duration(pause)
            ));
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = cancel.cancelled() => return Err(imgs_aws::AwsError::Cancelled.into()),
            }
            drop(connected);
            connected = ReconnectingSsh::connect(ssh, cancel.clone()).await?;
        }
        log.line("Connected to SSH!");
        Ok(Some(Box::new(connected)))
    }

    async fn finish(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Artifact, BuildError> {
        let amis = self.build.create_image(log, cancel).await?;
        let mut description = String::from("AMIs were created:");
        for ami in &amis {
            description.push_str(&format!("\n{}: {}", ami.region, ami.ami_id));
        }
        Ok(Artifact {
            builder_type: "amazon-ebs".into(),
            id: imgs_aws::artifact_id(&amis),
            description,
            files: Vec::new(),
            docker_tags: Vec::new(),
        })
    }

    async fn cleanup(&mut self, log: Log<'_>) -> Result<(), BuildError> {
        Ok(self.build.cleanup(log).await?)
    }

    fn leftovers(&self) -> Vec<String> {
        self.build
            .leftovers()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

#[cfg(test)]
mod target_tests {
    use std::path::Path;

    use imgs_template::BuildFilter;
    use serde_json::json;

    use super::aws_targets;

    fn targets(
        template: serde_json::Value,
        vars: &[(&str, &str)],
    ) -> Vec<(String, String, Vec<String>)> {
        let (template, variables) = crate::tests::planned(template, vars);
        aws_targets(
            &template,
            &variables,
            &BuildFilter::default(),
            Path::new("ws"),
        )
        .unwrap()
        .into_iter()
        .map(|t| (t.build, t.client.region, t.regions))
        .collect()
    }

    #[test]
    fn build_region_first_then_ami_regions_with_a_parent_placeholder_as_source() {
        let found = targets(
            json!({
                "variables": {"parent": "", "region": "us-east-1"},
                "builders": [
                    {"type": "amazon-ebs", "name": "ebs", "region": "{{user `region`}}",
                     "source_ami": "{{user `parent`}}", "instance_type": "t3.micro",
                     "ami_name": "app {{timestamp}}", "ssh_username": "ec2-user",
                     "ami_regions": ["eu-west-1", "us-east-1", "us-west-2"]},
                    {"type": "null", "communicator": "none"}
                ]
            }),
            &[("parent", "imgs-parent-artifact-base")],
        );
        assert_eq!(
            found,
            [(
                "ebs".to_string(),
                "us-east-1".to_string(),
                vec![
                    "us-east-1".to_string(),
                    "eu-west-1".into(),
                    "us-west-2".into()
                ]
            )]
        );
    }

    #[test]
    fn templates_without_amazon_ebs_have_no_targets() {
        let found = targets(
            json!({"builders": [{"type": "null", "communicator": "none"}]}),
            &[],
        );
        assert!(found.is_empty());
    }
}
