//! Every input of the kept fuzz corpora (`fuzz/corpus/<target>/`), replayed through the same entry
//! points the AFL targets call, without instrumentation: what the fuzzer once reached, and the
//! inputs that crashed a target (kept as `crash-…` once fixed), keep working under `cargo test`.

use std::path::{Path, PathBuf};

use imgs_fuzz_targets::{Fixture, Target};

fn corpus(target: Target) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target.name());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    files
}

fn replay(target: Target) {
    let fixture = Fixture::new().expect("create the fuzz fixture");
    for path in corpus(target) {
        let data = std::fs::read(&path).expect("read a corpus input");
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fixture.run(target, &data)));
        assert!(
            outcome.is_ok(),
            "{} panicked on {}",
            target.name(),
            path.display()
        );
    }
}

#[test]
fn images_toml_corpus() {
    replay(Target::ImagesToml);
}

#[test]
fn json_template_corpus() {
    replay(Target::JsonTemplate);
}

#[test]
fn hcl_template_corpus() {
    replay(Target::HclTemplate);
}

#[test]
fn go_template_corpus() {
    replay(Target::GoTemplate);
}

#[test]
fn hcl_expression_corpus() {
    replay(Target::HclExpression);
}
