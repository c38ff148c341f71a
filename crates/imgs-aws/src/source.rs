//! Finding the source AMI: by ID, or by `source_ami_filter` as Packer does (none found is an error,
//! several an error unless `most_recent` picks the newest by creation date).

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, Image};

use crate::AwsError;
use crate::config::{SourceAmi, SourceAmiFilter};

/// The source AMI and what templates may say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SourceImage {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub owner_alias: String,
    pub creation_date: String,
    /// The source AMI's tags (`SourceAMITags.NAME` in deferred templates).
    pub tags: BTreeMap<String, String>,
    /// `hvm` or `paravirtual`.
    pub virtualization_type: String,
}

impl SourceImage {
    /// Build data for deferred templates, with `region` as `BuildRegion` (Packer's is the build
    /// region, whichever region a tag is written in). `SourceAMITags` is a map: each tag is the
    /// field `SourceAMITags.NAME`, and `SourceAMITags.` holds how the whole map prints, as the
    /// template engine reads nested data (a key ending in `.` stands for the map of the keys under
    /// it).
    pub fn build_data(&self, region: &str) -> BTreeMap<String, String> {
        let mut data: BTreeMap<String, String> = [
            ("BuildRegion", region),
            ("SourceAMI", &self.id),
            ("SourceAMIName", &self.name),
            ("SourceAMIOwner", &self.owner_id),
            ("SourceAMIOwnerName", &self.owner_alias),
            ("SourceAMICreationDate", &self.creation_date),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        data.insert(format!("{SOURCE_AMI_TAGS}."), go_map_text(&self.tags));
        for (key, value) in &self.tags {
            data.insert(format!("{SOURCE_AMI_TAGS}.{key}"), value.clone());
        }
        data
    }
}

/// The build data field holding the source AMI's tags.
const SOURCE_AMI_TAGS: &str = "SourceAMITags";

/// How Go prints a `map[string]string`: `map[k1:v1 k2:v2]`, keys sorted.
fn go_map_text(map: &BTreeMap<String, String>) -> String {
    let entries: Vec<String> = map.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", entries.join(" "))
}

pub(crate) async fn resolve(client: &Client, source: &SourceAmi) -> Result<SourceImage, AwsError> {
    let request = client.describe_images();
    let (request, filter) = match source {
        SourceAmi::Id(id) => (request.image_ids(id), None),
        SourceAmi::Filter(filter) => {
            let mut request =
                request.set_owners(Some(filter.owners.clone()).filter(|o| !o.is_empty()));
            for (name, value) in &filter.filters {
                request = request.filters(Filter::builder().name(name).values(value).build());
            }
            (request, Some(filter))
        }
    };
    let images = request
        .send()
        .await
        .map_err(AwsError::api("Error querying AMI"))?
        .images
        .unwrap_or_default();
    let image = pick(images, filter, source)?;
    let tags = image
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let virtualization_type = image
        .virtualization_type()
        .map(|v| v.as_str().to_string())
        .unwrap_or_default();
    Ok(SourceImage {
        id: image.image_id.unwrap_or_default(),
        name: image.name.unwrap_or_default(),
        owner_id: image.owner_id.unwrap_or_default(),
        owner_alias: image.image_owner_alias.unwrap_or_default(),
        creation_date: image.creation_date.unwrap_or_default(),
        tags,
        virtualization_type,
    })
}

fn pick(
    mut images: Vec<Image>,
    filter: Option<&SourceAmiFilter>,
    source: &SourceAmi,
) -> Result<Image, AwsError> {
    if images.is_empty() {
        let filters = match source {
            SourceAmi::Id(id) => format!("image-id={id}"),
            SourceAmi::Filter(f) => describe_filter(f),
        };
        return Err(AwsError::NoSourceAmi { filters });
    }
    if images.len() > 1 && !filter.is_some_and(|f| f.most_recent) {
        return Err(AwsError::SeveralSourceAmis {
            count: images.len(),
        });
    }
    // ISO 8601 timestamps in one format sort as text; the newest is last.
    images.sort_by(|a, b| a.creation_date.cmp(&b.creation_date));
    Ok(images.pop().expect("checked non-empty"))
}

/// The filter as people read it: filters sorted by name, then the owners.
pub(crate) fn describe_filter(filter: &SourceAmiFilter) -> String {
    let mut parts: Vec<String> = filter
        .filters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !filter.owners.is_empty() {
        parts.push(format!("owners={}", filter.owners.join(",")));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, created: &str) -> Image {
        Image::builder().image_id(id).creation_date(created).build()
    }

    fn filter(most_recent: bool) -> SourceAmiFilter {
        SourceAmiFilter {
            filters: BTreeMap::from([("name".to_string(), "debian-*".to_string())]),
            owners: vec!["self".into()],
            most_recent,
        }
    }

    #[test]
    fn most_recent_takes_the_newest() {
        let f = filter(true);
        let source = SourceAmi::Filter(f.clone());
        let images = vec![
            image("ami-old", "2020-01-01T00:00:00.000Z"),
            image("ami-new", "2024-06-01T00:00:00.000Z"),
            image("ami-mid", "2022-01-01T00:00:00.000Z"),
        ];
        let picked = pick(images, Some(&f), &source).unwrap();
        assert_eq!(picked.image_id.as_deref(), Some("ami-new"));
    }

    #[test]
    fn several_without_most_recent_is_an_error() {
        let f = filter(false);
        let source = SourceAmi::Filter(f.clone());
        let images = vec![image("a", "1"), image("b", "2")];
        let error = pick(images, Some(&f), &source).unwrap_err();
        assert!(matches!(error, AwsError::SeveralSourceAmis { count: 2 }));
    }

    #[test]
    fn none_found_names_the_filters() {
        let f = filter(true);
        let source = SourceAmi::Filter(f.clone());
        let error = pick(Vec::new(), Some(&f), &source).unwrap_err();
        assert_eq!(
            error.to_string(),
            "No AMI was found matching filters: name=debian-* owners=self"
        );
    }
}
