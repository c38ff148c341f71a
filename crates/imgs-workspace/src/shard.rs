//! Waves and shards: how the images of a workspace are spread over several machines.
//!
//! A wave is a level of the lineage: wave 0 holds the images with no parent in the workspace, and an
//! image is in the wave after its deepest parent's, so every parent is in an earlier wave. Within a
//! wave, the images are dealt to N shards in name order, round robin. Neither rule looks at what is
//! fresh or built, so every machine computes the same assignment, before and after other waves ran:
//! shard K of wave W is the same set of images on every runner of a CI workflow.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::graph::Lineage;

/// `K/N`: shard K (from 1) of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardSpec {
    pub index: usize,
    pub count: usize,
}

impl ShardSpec {
    /// The whole of every wave.
    pub const ALL: ShardSpec = ShardSpec { index: 1, count: 1 };
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for ShardSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<ShardSpec, String> {
        let Some((k, n)) = s.split_once('/') else {
            return Err(format!(
                "expected K/N (shard K of N, such as 1/3), got `{s}`"
            ));
        };
        let number = |part: &str, what: &str| {
            part.trim().parse::<usize>().map_err(|_| {
                format!("expected K/N with whole numbers, got `{s}` ({what} is `{part}`)")
            })
        };
        let (index, count) = (number(k, "K")?, number(n, "N")?);
        if count == 0 {
            return Err(format!("`{s}`: the number of shards must be at least 1"));
        }
        if index == 0 || index > count {
            return Err(format!(
                "`{s}`: shards are numbered from 1 to {count}, so K must be one of those"
            ));
        }
        Ok(ShardSpec { index, count })
    }
}

/// Where one image is run: its wave (from 0) and its shard (from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub wave: usize,
    pub shard: usize,
}

/// Every image's wave: 0 without a parent, else one more than its deepest parent's. Requires no
/// cycle (a loaded workspace has none).
pub fn waves(lineage: &Lineage) -> BTreeMap<String, usize> {
    let mut waves: BTreeMap<String, usize> = BTreeMap::new();
    for image in lineage.topological_order() {
        let wave = lineage
            .parents(&image)
            .filter_map(|parent| waves.get(parent))
            .map(|w| w + 1)
            .max()
            .unwrap_or(0);
        waves.insert(image, wave);
    }
    waves
}

/// Every image's wave and shard among `shards` (at least 1): each wave's images, sorted by name,
/// dealt round robin, the first to shard 1.
pub fn assign(lineage: &Lineage, shards: usize) -> BTreeMap<String, Place> {
    let shards = shards.max(1);
    let mut by_wave: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (image, wave) in waves(lineage) {
        by_wave.entry(wave).or_default().push(image);
    }
    let mut places = BTreeMap::new();
    for (wave, mut images) in by_wave {
        images.sort();
        for (i, image) in images.into_iter().enumerate() {
            places.insert(
                image,
                Place {
                    wave,
                    shard: i % shards + 1,
                },
            );
        }
    }
    places
}

/// How many waves the lineage has (0 for an empty one).
pub fn wave_count(lineage: &Lineage) -> usize {
    waves(lineage).values().max().map_or(0, |w| w + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// base → {a, b, c}; each of those → three leaves; `solo` has no parent; `late` is built on a
    /// leaf and on base (its wave follows the deepest).
    fn layered() -> Lineage {
        let mut nodes: Vec<(String, Vec<String>)> = vec![("base".into(), vec![])];
        for child in ["a", "b", "c"] {
            nodes.push((child.into(), vec!["base".into()]));
            for n in 1..=3 {
                nodes.push((format!("{child}{n}"), vec![child.into()]));
            }
        }
        nodes.push(("solo".into(), vec![]));
        nodes.push(("late".into(), vec!["a1".into(), "base".into()]));
        Lineage::new(
            nodes
                .iter()
                .map(|(n, p)| (n.as_str(), p.iter().map(String::as_str).collect())),
        )
    }

    fn in_shard(places: &BTreeMap<String, Place>, wave: usize, shard: usize) -> Vec<&str> {
        places
            .iter()
            .filter(|(_, p)| p.wave == wave && p.shard == shard)
            .map(|(n, _)| n.as_str())
            .collect()
    }

    #[test]
    fn waves_are_levels_of_the_lineage() {
        let waves = waves(&layered());
        assert_eq!(waves["base"], 0);
        assert_eq!(waves["solo"], 0);
        assert_eq!(waves["b"], 1);
        assert_eq!(waves["c3"], 2);
        assert_eq!(waves["late"], 3, "one more than its deepest parent");
        assert_eq!(wave_count(&layered()), 4);
        assert_eq!(wave_count(&Lineage::default()), 0);
    }

    #[test]
    fn each_wave_is_dealt_round_robin_by_name() {
        let places = assign(&layered(), 3);
        assert_eq!(in_shard(&places, 0, 1), ["base"]);
        assert_eq!(in_shard(&places, 0, 2), ["solo"]);
        assert!(in_shard(&places, 0, 3).is_empty());
        assert_eq!(in_shard(&places, 1, 1), ["a"]);
        assert_eq!(in_shard(&places, 1, 3), ["c"]);
        // a1 a2 a3 b1 b2 b3 c1 c2 c3, dealt 1 2 3 1 2 3 1 2 3.
        assert_eq!(in_shard(&places, 2, 1), ["a1", "b1", "c1"]);
        assert_eq!(in_shard(&places, 2, 2), ["a2", "b2", "c2"]);
        assert_eq!(in_shard(&places, 3, 1), ["late"]);
    }

    #[test]
    fn every_image_is_in_exactly_one_shard_and_parents_are_in_earlier_waves() {
        let lineage = layered();
        for shards in 1..=5 {
            let places = assign(&lineage, shards);
            assert_eq!(places.len(), 15);
            for (image, place) in &places {
                assert!((1..=shards).contains(&place.shard));
                for parent in lineage.parents(image) {
                    assert!(places[parent].wave < place.wave, "{parent} before {image}");
                }
            }
            // A shard holds at most one more image of a wave than any other.
            for wave in 0..4 {
                let sizes: Vec<usize> = (1..=shards)
                    .map(|s| in_shard(&places, wave, s).len())
                    .collect();
                assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
            }
        }
        assert_eq!(assign(&lineage, 0), assign(&lineage, 1), "0 shards is one");
    }

    #[test]
    fn the_assignment_does_not_depend_on_the_order_images_are_listed_in() {
        let forward = layered();
        let mut nodes: Vec<(String, Vec<String>)> = forward
            .topological_order()
            .into_iter()
            .map(|n| {
                let parents = forward.parents(&n).map(str::to_string).collect();
                (n, parents)
            })
            .collect();
        nodes.reverse();
        let backward = Lineage::new(
            nodes
                .iter()
                .map(|(n, p)| (n.as_str(), p.iter().map(String::as_str).collect())),
        );
        assert_eq!(assign(&forward, 3), assign(&backward, 3));
    }

    #[test]
    fn shard_specs_read_k_of_n() {
        assert_eq!("2/3".parse(), Ok(ShardSpec { index: 2, count: 3 }));
        assert_eq!(ShardSpec { index: 2, count: 3 }.to_string(), "2/3");
        for bad in ["3", "0/3", "4/3", "1/0", "a/3", "1/-2", ""] {
            assert!(bad.parse::<ShardSpec>().is_err(), "{bad}");
        }
        assert_eq!(
            "4/3".parse::<ShardSpec>().unwrap_err(),
            "`4/3`: shards are numbered from 1 to 3, so K must be one of those"
        );
    }
}
