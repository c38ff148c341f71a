//! `imgs-fuzz TARGET`: one AFL target per run, reading inputs from AFL++ in persistent mode.
//! The targets and what each does with its input are in `imgs_fuzz_targets`; `cargo xtask fuzz`
//! builds this binary with `cargo afl build` and runs `afl-fuzz` on each target.
//!
//! The fixture directory is `IMGS_FUZZ_FIXTURE` when set (`cargo xtask fuzz` sets it and removes
//! it afterwards), else a new directory in the system's temporary directory. Under afl-fuzz this
//! process does not remove it: every process AFL's fork server forks shares it, and afl-fuzz ends
//! them with SIGKILL. A replay (`imgs-fuzz TARGET < INPUT`, not under afl-fuzz) removes its own.

use std::path::PathBuf;

use imgs_fuzz_targets::{Fixture, Target};

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = Target::from_name(&name) else {
        let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
        eprintln!("usage: imgs-fuzz <{}>", names.join("|"));
        std::process::exit(2);
    };
    let fixture = match std::env::var_os("IMGS_FUZZ_FIXTURE") {
        Some(dir) => Fixture::at(&PathBuf::from(dir)),
        None => Fixture::new(),
    };
    let fixture = match fixture {
        Ok(fixture) => fixture,
        Err(e) => {
            eprintln!("imgs-fuzz: cannot create the fixture directory: {e}");
            std::process::exit(1);
        }
    };
    if std::env::var_os("__AFL_SHM_ID").is_none() {
        // Not under afl-fuzz: one input from stdin (a replay), then the fixture is removed.
        afl::fuzz!(|data: &[u8]| {
            fixture.run(target, data);
        });
        return;
    }
    // Under afl-fuzz, never dropped: a forked child that ended its loop would remove the
    // temporary directory under its siblings.
    let fixture: &'static Fixture = Box::leak(Box::new(fixture));
    afl::fuzz!(|data: &[u8]| {
        fixture.run(target, data);
    });
}
