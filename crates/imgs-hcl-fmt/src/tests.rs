//! `format` against what `packer fmt` of Packer 1.6.6 wrote for the same input
//! (`tests/golden/NAME.in.pkr.hcl` → `NAME.out.pkr.hcl`, recorded by `tests/record.sh`).

use std::path::Path;

use super::*;

#[test]
fn formats_as_packer_fmt_does() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .expect("golden directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".in.pkr.hcl"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 40, "{} golden inputs", inputs.len());
    let mut failures = Vec::new();
    for input in &inputs {
        let name = input.to_string_lossy().replace(".in.pkr.hcl", "");
        let source = std::fs::read_to_string(input).expect("read input");
        let expected = std::fs::read_to_string(format!("{name}.out.pkr.hcl")).ok();
        match (format(&source), expected) {
            (Ok(out), Some(expected)) if out == expected => {
                // Formatting what is formatted changes nothing.
                if format(&out).as_deref() != Ok(out.as_str()) {
                    failures.push(format!("{name}: not idempotent"));
                }
            }
            (Ok(out), Some(expected)) => failures.push(format!(
                "{name}:\n--- packer fmt\n{expected}\n--- imgs\n{out}"
            )),
            // No `.out`: Packer refused the input (it does not parse).
            (Err(_), None) => {}
            (Ok(_), None) => {
                failures.push(format!("{name}: packer fmt refused it, imgs formatted it"))
            }
            (Err(e), Some(_)) => failures.push(format!("{name}: imgs refused it: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn only_spaces_change() {
    let messy = "variable  \"x\"{\ndefault=1 # one\n  type =number\n}\n";
    let out = format(messy).expect("formats");
    let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    assert_eq!(squeeze(messy), squeeze(&out));
    assert_eq!(messy.lines().count(), out.lines().count());
}
