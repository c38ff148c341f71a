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

/// A small seeded generator (xorshift): random damage that a seed repeats, without a dependency.
/// The seed comes from `IMGS_CHAOS_SEED` or the clock, and is printed.
pub struct Dice(u64);

impl Dice {
    pub fn from_env() -> Dice {
        let seed = std::env::var("IMGS_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
            | 1;
        eprintln!("chaos seed: IMGS_CHAOS_SEED={seed}");
        Dice(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A whole number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
