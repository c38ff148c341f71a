//! A template's outside inputs, for Images.lock: what each selected build asks the world for that
//! can move under it between two builds of the same template. Today that is amazon-ebs's
//! `source_ami_filter` (an AMI ID in `source_ami` is already pinned) and a docker builder's
//! `image` given by tag (one given as `repo@sha256:…` is already pinned), read by the same reader
//! a build uses, so the lock records exactly what the build's launch would ask.

use std::collections::BTreeMap;
use std::path::Path;

use imgs_aws::{ClientSettings, EbsConfig, SourceAmi, SourceAmiFilter};
use imgs_template::interpolate::{RenderScope, Volatile};
use imgs_template::{BuildFilter, ResolvedVariables, Template};

/// The kind of a source AMI input, as Images.lock names it.
pub const SOURCE_AMI: &str = "source-ami";

/// The kind of a docker image by tag, as Images.lock names it.
pub const IMAGE_DIGEST: &str = "image-digest";

/// One outside input of one build.
#[derive(Clone, Debug)]
pub struct OutsideInput {
    /// The build's name (rendered), as in records.
    pub build: String,
    /// `source-ami` or `image-digest`.
    pub kind: &'static str,
    /// Where it is resolved: the build region of an AMI; empty for a docker image.
    pub region: String,
    /// What is asked, as one stable line: the filter (see [`imgs_aws::filter_spec`]), the image
    /// reference.
    pub spec: String,
    asks: Asks,
}

/// What resolving an input asks.
#[derive(Clone, Debug)]
enum Asks {
    Ami {
        client: Box<ClientSettings>,
        filter: SourceAmiFilter,
    },
    /// The Docker engine (then the image's registry) about the image reference in `spec`.
    DockerImage,
}

/// A locked source handed to a build: used when the build's input still reads as `spec`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockedSource {
    pub spec: String,
    /// What it resolved to: an AMI ID, or a docker image (`repo@sha256:…`, `sha256:…`).
    pub ami: String,
}

/// The outside inputs of the selected builds of `template`, in template order. Settings that do
/// not read are the build's to report; such a build has none here.
pub fn outside_inputs(
    template: &Template,
    variables: &ResolvedVariables,
    filter: &BuildFilter,
    working_dir: &Path,
) -> Vec<OutsideInput> {
    let scope = RenderScope::new(
        template,
        working_dir,
        &variables.values,
        Volatile::Placeholder,
    );
    let mut found = Vec::new();
    for (index, block) in template.builders.iter().enumerate() {
        if !filter.selects(&block.name) {
            continue;
        }
        let name = scope.build_name(block);
        let ctx = scope.build_context(&name, &block.kind);
        if block.kind == "docker" {
            if let Ok(settings) = crate::settings::Settings::render_deferring(
                template,
                format!("builders[{index}]"),
                &block.config,
                &ctx,
                crate::registry::deferred_keys("docker"),
            ) && let Some(image) = settings.text("image")
                && is_lockable_image(&image)
            {
                found.push(OutsideInput {
                    build: name,
                    kind: IMAGE_DIGEST,
                    region: String::new(),
                    spec: image,
                    asks: Asks::DockerImage,
                });
            }
            continue;
        }
        if block.kind != "amazon-ebs" {
            continue;
        }
        let Ok(config) = crate::amazon_ebs::read_settings(
            template,
            format!("builders[{index}]"),
            &block.config,
            &ctx,
        )
        .and_then(|settings| EbsConfig::from_settings(&settings.located, &name)) else {
            continue;
        };
        if let SourceAmi::Filter(source_filter) = config.source {
            found.push(OutsideInput {
                build: name,
                kind: SOURCE_AMI,
                region: config.client.region.clone(),
                spec: imgs_aws::filter_spec(&source_filter),
                asks: Asks::Ami {
                    client: Box::new(config.client),
                    filter: source_filter,
                },
            });
        }
    }
    found
}

/// Whether a docker `image` can move under its build: one by tag can, one by digest or image ID
/// cannot (and an empty one is the builder's to report).
pub fn is_lockable_image(image: &str) -> bool {
    !image.trim().is_empty() && !imgs_docker::lookup::is_pinned(image)
}

/// What each input resolves to now, all at once: an AMI ID, `repo@sha256:…` or an image ID
/// `sha256:…`, or why not.
pub fn resolve(inputs: &[&OutsideInput]) -> Vec<Result<String, String>> {
    if inputs.is_empty() {
        return Vec::new();
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let why = format!("cannot start the async runtime: {e}");
            return inputs.iter().map(|_| Err(why.clone())).collect();
        }
    };
    rt.block_on(futures_util::future::join_all(inputs.iter().map(
        |input| async move {
            match &input.asks {
                Asks::Ami { client, filter } => imgs_aws::resolve_source_ami(client, filter)
                    .await
                    .map_err(|e| e.to_string()),
                Asks::DockerImage => {
                    let engine = imgs_docker::lookup::EngineAddress::from_env();
                    imgs_docker::lookup::resolve_reference(engine.as_ref(), &input.spec)
                        .await
                        .map_err(|e| format!("`{}` cannot be resolved: {e}", input.spec))
                }
            }
        },
    )))
}

/// The image a docker build starts from: the locked one of its build when its `image` still reads
/// as the lock recorded (a reference rendered differently at build time is used as written).
pub(crate) fn locked_image<'a>(
    image: &'a str,
    build: &str,
    locked: &'a BTreeMap<String, LockedSource>,
) -> &'a str {
    match locked.get(build) {
        Some(entry) if entry.spec == image => &entry.ami,
        _ => image,
    }
}

/// `config`'s source, replaced by the locked AMI of its build when its filter still asks what the
/// lock recorded (a filter rendered differently at build time is resolved afresh, as Packer does).
pub(crate) fn apply_locked(
    config: &mut EbsConfig,
    build: &str,
    locked: &BTreeMap<String, LockedSource>,
) {
    if let (SourceAmi::Filter(filter), Some(entry)) = (&config.source, locked.get(build))
        && imgs_aws::filter_spec(filter) == entry.spec
    {
        config.source = SourceAmi::Id(entry.ami.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use imgs_template::{BuildFilter, Invocation, Template, interpolate::Volatile};
    use serde_json::json;

    use super::*;

    fn inputs(template: serde_json::Value, vars: &[(&str, &str)]) -> Vec<(String, String, String)> {
        let (template, variables) = crate::tests::planned(template, vars);
        outside_inputs(
            &template,
            &variables,
            &BuildFilter::default(),
            Path::new("ws"),
        )
        .into_iter()
        .map(|i| (i.build, i.region, i.spec))
        .collect()
    }

    fn ebs(source: serde_json::Value) -> serde_json::Value {
        let mut block = json!({
            "type": "amazon-ebs", "region": "{{user `region`}}", "instance_type": "t3.micro",
            "ami_name": "app {{timestamp}}", "ssh_username": "admin",
        });
        block
            .as_object_mut()
            .unwrap()
            .extend(source.as_object().unwrap().clone());
        block
    }

    #[test]
    fn a_filter_is_an_input_with_its_variables_resolved() {
        let found = inputs(
            json!({
                "variables": {"region": "eu-west-1", "distro": "debian-12"},
                "builders": [ebs(json!({"source_ami_filter": {
                    "filters": {"name": "{{user `distro`}}-*", "virtualization-type": "hvm"},
                    "owners": ["136693071363"], "most_recent": true,
                }}))],
            }),
            &[],
        );
        assert_eq!(
            found,
            [(
                "amazon-ebs".to_string(),
                "eu-west-1".to_string(),
                "name=debian-12-* virtualization-type=hvm owners=136693071363 most_recent=true"
                    .to_string()
            )]
        );
    }

    #[test]
    fn an_ami_id_and_other_builders_are_not_inputs() {
        let found = inputs(
            json!({
                "variables": {"region": "us-east-1"},
                "builders": [
                    ebs(json!({"source_ami": "ami-0123456789abcdef0"})),
                    {"type": "null", "communicator": "none"},
                ],
            }),
            &[],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    fn docker(image: &str) -> serde_json::Value {
        json!({"type": "docker", "image": image, "commit": true})
    }

    #[test]
    fn a_docker_image_by_tag_is_an_input_with_its_variables_resolved() {
        let found = inputs(
            json!({
                "variables": {"release": "bookworm"},
                "builders": [docker("debian:{{user `release`}}")],
            }),
            &[],
        );
        assert_eq!(
            found,
            [(
                "docker".to_string(),
                String::new(),
                "debian:bookworm".to_string()
            )]
        );
    }

    #[test]
    fn a_docker_image_by_digest_or_id_is_already_pinned() {
        let found = inputs(
            json!({"builders": [
                {"name": "digest", "type": "docker", "commit": true,
                 "image": "127.0.0.1:5000/base@sha256:0123456789abcdef"},
                {"name": "id", "type": "docker", "commit": true, "image": "sha256:0123456789abcdef"},
            ]}),
            &[],
        );
        assert!(found.is_empty(), "{found:?}");
        assert!(is_lockable_image("debian"));
        assert!(is_lockable_image("127.0.0.1:5000/team/app:1"));
        assert!(!is_lockable_image("debian@sha256:0123"));
        assert!(!is_lockable_image("sha256:0123"));
        assert!(!is_lockable_image(" "));
    }

    #[test]
    fn a_locked_image_replaces_the_tag_only_while_the_tag_is_the_same() {
        let locked = BTreeMap::from([(
            "docker".to_string(),
            LockedSource {
                spec: "debian:bookworm".into(),
                ami: "debian@sha256:0123".into(),
            },
        )]);
        assert_eq!(
            locked_image("debian:bookworm", "docker", &locked),
            "debian@sha256:0123"
        );
        assert_eq!(
            locked_image("debian:trixie", "docker", &locked),
            "debian:trixie"
        );
        assert_eq!(
            locked_image("debian:bookworm", "other", &locked),
            "debian:bookworm"
        );
    }

    #[test]
    fn a_locked_ami_replaces_the_filter_only_while_the_filter_is_the_same() {
        let filter = SourceAmiFilter {
            filters: BTreeMap::from([("name".to_string(), "debian-*".to_string())]),
            owners: vec!["self".into()],
            most_recent: true,
        };
        let text = serde_json::to_string(&json!({
            "builders": [ebs(json!({"region": "us-east-1", "source_ami_filter": {
                "filters": {"name": "debian-*"}, "owners": ["self"], "most_recent": true,
            }}))],
        }))
        .unwrap();
        let template = Template::parse(Path::new("t.json"), text).unwrap();
        let invocation = Invocation {
            force: true,
            ..Invocation::new("ws", Volatile::Placeholder)
        };
        let variables = imgs_template::resolve_variables(&template, &invocation).unwrap();
        let scope = RenderScope::new(
            &template,
            Path::new("ws"),
            &variables.values,
            Volatile::Placeholder,
        );
        let block = &template.builders[0];
        let name = scope.build_name(block);
        let ctx = scope.build_context(&name, &block.kind);
        let settings =
            crate::amazon_ebs::read_settings(&template, "builders[0]".into(), &block.config, &ctx)
                .unwrap();
        let config = EbsConfig::from_settings(&settings.located, &name).unwrap();
        let locked = |spec: &str| {
            BTreeMap::from([(
                name.clone(),
                LockedSource {
                    spec: spec.into(),
                    ami: "ami-locked".into(),
                },
            )])
        };
        let mut same = config.clone();
        apply_locked(&mut same, &name, &locked(&imgs_aws::filter_spec(&filter)));
        assert_eq!(same.source, SourceAmi::Id("ami-locked".into()));
        let mut changed = config.clone();
        apply_locked(
            &mut changed,
            &name,
            &locked("name=ubuntu-* owners=self most_recent=true"),
        );
        assert_eq!(changed.source, SourceAmi::Filter(filter));
    }
}
