//! The `amazon-ebs` builder over `imgs-aws`: an EC2 instance launched from the source AMI, provisioned
//! over SSH, stopped and made into an AMI (copied to `ami_regions`). Its artifact is Packer's: the ID
//! lists `region:ami-…` pairs, and a child image receives the AMI of the build region.
//!
//! Everything the build creates is removed by [`Builder::cleanup`], which the build runs after success,
//! failure and cancellation; a failed build also deregisters any AMI it had made.

use std::path::Path;
use std::sync::Arc;

use imgs_aws::{EbsBuild, EbsConfig, ImgsTags, RenderDeferred};
use imgs_diagnostic::Diagnostics;
use imgs_provision::{Communicator, ReconnectingSsh};
use imgs_template::interpolate::{Context, Volatile, render};
use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

use crate::builder::{Builder, Log};
use crate::null::rooted_key_files;
use crate::qemu::rooted;
use crate::prepare::RunLabels;
use crate::settings::Settings;
use crate::{Artifact, BuildError};

pub struct AmazonEbsBuilder {
    build: EbsBuild,
}

/// What a deferred template (a tag, the AMI description) is rendered with, owned so the renderer can
/// outlive the preparation of the build.
struct DeferredContext {
    user_variables: IndexMap<String, String>,
    build_name: String,
    template_dir: String,
    pwd: String,
    volatile: Volatile,
}

/// Reads the builder's settings; the keys Packer renders only at build time stay as written.
pub fn read_settings<'a>(
    template: &'a imgs_template::Template,
    block_key: String,
    config: &imgs_template::Node,
    ctx: &Context<'_>,
) -> Result<Settings<'a>, Diagnostics> {
    Settings::render_deferring(template, block_key, config, ctx, imgs_aws::DEFERRED_KEYS)
}

pub fn read(
    settings: &Settings<'_>,
    build_name: &str,
    working_dir: &Path,
    ctx: &Context<'_>,
    labels: &RunLabels,
) -> Result<AmazonEbsBuilder, Diagnostics> {
    let mut config =
        EbsConfig::from_settings(&settings.json(), build_name).map_err(|d| settings.locate(d))?;
    // The process may run anywhere; the template's relative paths mean the working directory.
    config.ssh_settings = rooted_key_files(config.ssh_settings, working_dir);
    if let Some(file) = &config.user_data_file {
        config.user_data_file = Some(rooted(working_dir, file));
    }
    let deferred = DeferredContext {
        user_variables: ctx.user_variables.clone(),
        build_name: build_name.to_string(),
        template_dir: ctx.template_dir.to_string(),
        pwd: ctx.pwd.to_string(),
        volatile: ctx.volatile.clone(),
    };
    let render_deferred: RenderDeferred = Arc::new(move |text, data| {
        let ctx = Context {
            user_variables: &deferred.user_variables,
            env: None,
            build_name: Some(&deferred.build_name),
            build_type: Some("amazon-ebs"),
            template_dir: &deferred.template_dir,
            pwd: &deferred.pwd,
            data,
            volatile: &deferred.volatile,
        };
        render(text, &ctx).map(|r| r.text).map_err(|e| e.message)
    });
    let tags = ImgsTags {
        run_id: labels.run_id.clone(),
        image: labels.image.clone(),
        fingerprint: labels.fingerprint.clone(),
    };
    Ok(AmazonEbsBuilder {
        build: EbsBuild::new(config, tags, render_deferred),
    })
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
        log(&format!(
            "Using SSH communicator to connect: {}",
            ssh.address()
        ));
        let ssh = ReconnectingSsh::connect(ssh, cancel.clone()).await?;
        log("Connected to SSH!");
        Ok(Some(Box::new(ssh)))
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
