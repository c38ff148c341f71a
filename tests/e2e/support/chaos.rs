//! The scale and the figures of the reliability ("chaos") tests. In `cargo test` they run at the
//! quick scale, few enough runs for CI; `cargo xtask chaos` runs them at full scale
//! (`IMGS_CHAOS_SCALE=full`) and collects what each wrote into `IMGS_CHAOS_REPORT_DIR` to make
//! RELIABILITY.md. A test reports counts (runs, faults injected, leaks found), never a timing to assert.

use std::path::PathBuf;

/// How many runs a chaos test makes: `quick` in `cargo test`, `full` under `cargo xtask chaos`.
pub fn full_scale() -> bool {
    std::env::var("IMGS_CHAOS_SCALE").is_ok_and(|scale| scale == "full")
}

/// `quick` runs in the quick scale, `full` in the full one.
pub fn runs(quick: usize, full: usize) -> usize {
    if full_scale() { full } else { quick }
}

/// Writes `figures` as `<IMGS_CHAOS_REPORT_DIR>/<name>.json` when the directory is set (under
/// `cargo xtask chaos`); otherwise nothing. `figures` is a JSON object of counts and short texts:
/// `runs`, `faults` (per kind), `interrupts` (per phase), `succeeded`, `leaked` (per kind),
/// `false_records`, `secret_hits`, and anything a reader of RELIABILITY.md needs to judge them.
pub fn report(name: &str, figures: serde_json::Value) {
    let Some(dir) = std::env::var_os("IMGS_CHAOS_REPORT_DIR").map(PathBuf::from) else {
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    let text = serde_json::to_string_pretty(&figures).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), text).unwrap();
}
