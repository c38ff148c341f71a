//! Properties of `format` on generated inputs: it never panics, formats what it formats once and
//! for all (idempotent), and changes nothing but spaces.

use std::path::Path;

use proptest::prelude::*;

/// The golden inputs Packer formats: the shapes the mutations start from.
fn seeds() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .expect("golden directory")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.to_string_lossy().into_owned();
            let stem = name.strip_suffix(".in.pkr.hcl")?;
            std::path::Path::new(&format!("{stem}.out.pkr.hcl"))
                .is_file()
                .then(|| std::fs::read_to_string(&path).ok())?
        })
        .collect();
    out.sort();
    out
}

const SPACES: &[&str] = &["", " ", "  ", "\t", "    ", " \t "];

/// A seed with each run of spaces replaced (or not) by one of `SPACES`, chosen by `picks`, and
/// optionally indented lines and trailing spaces: what a hand-edited file looks like.
fn mutate(seed: &str, picks: &[u8]) -> String {
    let mut out = String::with_capacity(seed.len() * 2);
    let mut picks = picks.iter().cycle();
    let mut pick = || usize::from(*picks.next().unwrap_or(&0));
    let mut in_spaces = false;
    for c in seed.chars() {
        if c == ' ' || c == '\t' {
            if !in_spaces {
                in_spaces = true;
                let p = pick();
                out.push_str(if p % 2 == 0 {
                    " "
                } else {
                    SPACES[p % SPACES.len()]
                });
            }
            continue;
        }
        in_spaces = false;
        if c == '\n' {
            let p = pick();
            if p % 7 == 0 {
                out.push_str(SPACES[p % SPACES.len()]);
            }
            out.push('\n');
            if p % 5 == 0 {
                out.push_str(SPACES[(p / 5) % SPACES.len()]);
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_panics_on_any_text(source in "\\PC{0,200}") {
        let _ = imgs_hcl_fmt::format(&source);
    }

    #[test]
    fn never_panics_on_hcl_like_text(source in "[a-z\"{}\\[\\]()=,.:?<>!*%+\\-/#$~ \t\n0-9]{0,200}") {
        if let Ok(out) = imgs_hcl_fmt::format(&source) {
            prop_assert_eq!(imgs_hcl_fmt::format(&out), Ok(out.clone()));
        }
    }

    #[test]
    fn idempotent_and_only_spaces_change(
        index in any::<prop::sample::Index>(),
        picks in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let seeds = seeds();
        let seed = &seeds[index.index(seeds.len())];
        let source = mutate(seed, &picks);
        // A space inside a string or a heredoc counts too: both sides keep it.
        if let Ok(out) = imgs_hcl_fmt::format(&source) {
            prop_assert_eq!(squeeze(&out), squeeze(&source));
            prop_assert_eq!(out.lines().count(), source.lines().count());
            prop_assert_eq!(imgs_hcl_fmt::format(&out), Ok(out.clone()));
        }
    }
}
