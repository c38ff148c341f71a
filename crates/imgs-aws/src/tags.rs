//! Tags: the template's (rendered per region with build data) merged with imgs's own, which win, so a
//! template can never hide a resource from `imgs gc` or the cache lookup.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

use crate::{
    AwsError, ImgsTags, RenderDeferred, TAG_FINGERPRINT, TAG_IMAGE, TAG_RUN, TAG_SOURCE_AMI,
};

/// Renders every key and value of a deferred tag map, as Packer does.
pub(crate) fn render_map(
    render: &RenderDeferred,
    key: &str,
    templates: &BTreeMap<String, String>,
    data: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, AwsError> {
    let mut out = BTreeMap::new();
    for (name, value) in templates {
        let failed = |message: String| AwsError::Render {
            key: format!("{key}.{name}"),
            message,
        };
        let name = render(name, data).map_err(failed)?;
        let value = render(value, data).map_err(|message| AwsError::Render {
            key: format!("{key}.{name}"),
            message,
        })?;
        out.insert(name, value);
    }
    Ok(out)
}

/// The run and image tags every resource carries.
pub(crate) fn imgs_tags(imgs: &ImgsTags) -> BTreeMap<String, String> {
    BTreeMap::from([
        (TAG_RUN.to_string(), imgs.run_id.clone()),
        (TAG_IMAGE.to_string(), imgs.image.clone()),
    ])
}

/// The run, image and fingerprint tags an AMI carries.
pub(crate) fn imgs_ami_tags(imgs: &ImgsTags) -> BTreeMap<String, String> {
    let mut tags = imgs_tags(imgs);
    if let Some(fingerprint) = &imgs.fingerprint {
        tags.insert(TAG_FINGERPRINT.to_string(), fingerprint.clone());
    }
    tags
}

/// The lineage tag of an AMI and its snapshots: the AMI it was launched from (copies carry the
/// build's, since a copy is the same image), so "which AMIs were built on this one" is answered from
/// EC2 alone, by `imgs prune` and `imgs revoke --descendants`. Nothing when the source is unknown.
pub(crate) fn lineage_tags(source_ami: &str) -> BTreeMap<String, String> {
    if source_ami.is_empty() {
        return BTreeMap::new();
    }
    BTreeMap::from([(TAG_SOURCE_AMI.to_string(), source_ami.to_string())])
}

/// `template` with `imgs` laid over it.
pub(crate) fn merged(
    template: BTreeMap<String, String>,
    imgs: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut tags = template;
    tags.extend(imgs);
    tags
}

/// The tags an AMI's snapshots carry. Packer 1.6.6 tags the snapshots together with the AMI (its
/// `tags`), then `snapshot_tags` over those; imgs's run and image tags go over both.
pub(crate) fn snapshot_tag_set(
    ami: BTreeMap<String, String>,
    snapshot: BTreeMap<String, String>,
    imgs: &ImgsTags,
) -> BTreeMap<String, String> {
    merged(merged(ami, snapshot), imgs_tags(imgs))
}

pub(crate) fn ec2_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The value of tag `key` on a resource EC2 described (it lists tags rather than mapping them).
pub(crate) fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key))?.value()
}

pub(crate) fn spec(kind: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(ec2_tags(tags)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn imgs_tags_win_over_the_template() {
        let imgs = ImgsTags {
            run_id: "r1".into(),
            image: "app".into(),
            fingerprint: Some("fp".into()),
        };
        let template = BTreeMap::from([
            ("imgs:run".to_string(), "forged".to_string()),
            ("Name".to_string(), "app".to_string()),
        ]);
        let tags = merged(template, imgs_ami_tags(&imgs));
        assert_eq!(tags["imgs:run"], "r1");
        assert_eq!(tags["imgs:fingerprint"], "fp");
        assert_eq!(tags["Name"], "app");
    }

    #[test]
    fn snapshots_carry_the_ami_tags_with_snapshot_tags_over_them() {
        let imgs = ImgsTags {
            run_id: "r1".into(),
            image: "app".into(),
            fingerprint: Some("fp".into()),
        };
        let ami = BTreeMap::from([
            ("Name".to_string(), "app".to_string()),
            ("Kind".to_string(), "ami".to_string()),
            ("imgs:run".to_string(), "forged".to_string()),
        ]);
        let snapshot = BTreeMap::from([("Kind".to_string(), "root".to_string())]);
        let tags = snapshot_tag_set(ami, snapshot, &imgs);
        assert_eq!(
            tags,
            BTreeMap::from([
                ("Name".to_string(), "app".to_string()),
                ("Kind".to_string(), "root".to_string()),
                ("imgs:run".to_string(), "r1".to_string()),
                ("imgs:image".to_string(), "app".to_string()),
            ])
        );
    }

    #[test]
    fn lineage_names_the_source_ami_when_known() {
        assert_eq!(
            lineage_tags("ami-0src"),
            BTreeMap::from([("imgs:source-ami".to_string(), "ami-0src".to_string())])
        );
        assert!(lineage_tags("").is_empty());
    }

    #[test]
    fn tag_value_finds_the_key_among_described_tags() {
        let tags = ec2_tags(&BTreeMap::from([
            ("imgs:run".to_string(), "r1".to_string()),
            ("Name".to_string(), "app".to_string()),
        ]));
        assert_eq!(tag_value(&tags, "imgs:run"), Some("r1"));
        assert_eq!(tag_value(&tags, "imgs:image"), None);
    }

    #[test]
    fn keys_and_values_are_rendered() {
        let render: RenderDeferred =
            Arc::new(|text, data| Ok(text.replace("{{ .BuildRegion }}", &data["BuildRegion"])));
        let data = BTreeMap::from([("BuildRegion".to_string(), "eu-west-1".to_string())]);
        let templates = BTreeMap::from([(
            "at-{{ .BuildRegion }}".to_string(),
            "in {{ .BuildRegion }}".to_string(),
        )]);
        let out = render_map(&render, "tags", &templates, &data).unwrap();
        assert_eq!(out["at-eu-west-1"], "in eu-west-1");
    }
}
