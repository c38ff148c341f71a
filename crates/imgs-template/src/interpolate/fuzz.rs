//! `render` must never panic, whatever the input: a seeded random search over inputs built from the
//! pieces of template syntax (so most inputs get deep into the lexer, parser and functions), checked
//! under every context variant. Deterministic, so a failure reproduces.

use std::collections::BTreeMap;

use chrono::TimeZone;
use indexmap::IndexMap;

use super::*;

/// Pieces of template syntax, besides the function names in [`FUNCTIONS`] that inputs are also built
/// from.
const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    "{{-",
    "-}}",
    "/*",
    "*/",
    "\"",
    "`",
    "'",
    "\\",
    "(",
    ")",
    "|",
    ".",
    "$",
    "$x",
    ":=",
    "=",
    ",",
    "-",
    "+",
    "0",
    "1",
    "9",
    "0x",
    "0b",
    "1e",
    "p",
    "i",
    "_",
    ".5",
    "é",
    "日",
    "\n",
    "\t",
    " ",
    "  ",
    "call",
    "vault",
    "sed",
    "if",
    "else",
    "end",
    "with",
    "range",
    "define",
    "break",
    "nil",
    "true",
    "false",
    ".Path",
    ".Missing",
    "\"a\"",
    "`2006`",
    "\"%d %s %q %x %05.2f %-3v %\"",
    "\"__2 002 ,000 .999 Jan Monday MST -07:00 Z07\"",
    "\"\\x41\\u00e9\\101\"",
    "-1",
    "3",
    "1.5",
    "99999999999999999999",
    "'a'",
    "%Y%m%L%",
    "x",
];

/// xorshift64*: enough randomness for input generation, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn random_piece(rng: &mut Rng, input: &mut String) {
    if rng.below(8) == 0 {
        // An arbitrary character, to reach paths no piece spells.
        input.push(char::from_u32((rng.next() % 0x3000) as u32).unwrap_or('?'));
    } else {
        let at = rng.below(PIECES.len() + FUNCTIONS.len());
        input.push_str(
            PIECES
                .get(at)
                .unwrap_or_else(|| &FUNCTIONS[at - PIECES.len()]),
        );
    }
}

const FUNCTIONS: &[&str] = &[
    "user",
    "env",
    "split",
    "replace",
    "replace_all",
    "isotime",
    "strftime",
    "timestamp",
    "uuid",
    "printf",
    "print",
    "println",
    "html",
    "js",
    "urlquery",
    "slice",
    "index",
    "len",
    "eq",
    "ne",
    "lt",
    "ge",
    "and",
    "or",
    "not",
    "lower",
    "upper",
    "clean_resource_name",
    "build",
    "build_name",
    "build_type",
    "template_dir",
    "pwd",
    "packer_version",
];

const OPERANDS: &[&str] = &[
    "\"a\"",
    "`x-y-z`",
    "\"-\"",
    "\"\"",
    "0",
    "1",
    "2",
    "-1",
    "1.5",
    "true",
    "nil",
    ".",
    ".Path",
    ".Missing",
    "$",
    "$.Path",
    "\"%s-%d|%q|%v|%x|%5.1f|%-4s|%c\"",
    "\"2006-01-02 __2 002 .000 ,999 Jan Monday PM -0700 Z07:00\"",
    "\"%Y-%m-%d %H %p %Z %z %L %Q\"",
    "\"My Image_1.0!\"",
    "'é'",
    "0x1p-2",
];

/// A syntactically plausible pipeline: functions with operands, nested calls and pipes.
fn random_pipeline(rng: &mut Rng, depth: usize, input: &mut String) {
    for stage in 0..1 + rng.below(3) {
        if stage > 0 {
            input.push_str(" | ");
        }
        input.push_str(FUNCTIONS[rng.below(FUNCTIONS.len())]);
        for _ in 0..rng.below(4) {
            input.push(' ');
            if depth < 2 && rng.below(5) == 0 {
                input.push('(');
                random_pipeline(rng, depth + 1, input);
                input.push(')');
            } else {
                input.push_str(OPERANDS[rng.below(OPERANDS.len())]);
            }
        }
    }
}

/// Mostly well-delimited actions: plausible pipelines, control flow, or random pieces.
fn random_input(rng: &mut Rng) -> String {
    let mut input = String::new();
    for _ in 0..rng.below(6) {
        match rng.below(6) {
            0 => {
                random_piece(rng, &mut input);
                continue;
            }
            1 | 2 => {
                input.push_str("{{");
                random_pipeline(rng, 0, &mut input);
                input.push_str("}}");
                continue;
            }
            3 => {
                input.push_str(["{{if ", "{{with ", "{{$v := ", "{{else}}{{if "][rng.below(4)]);
                random_pipeline(rng, 0, &mut input);
                input.push_str("}}");
                input.push_str(["{{end}}", "x{{else}}y{{end}}", "{{$v}}", ""][rng.below(4)]);
                continue;
            }
            _ => {}
        }
        input.push_str(if rng.below(4) == 0 { "{{- " } else { "{{" });
        for _ in 0..rng.below(7) {
            random_piece(rng, &mut input);
            if rng.below(2) == 0 {
                input.push(' ');
            }
        }
        input.push_str(if rng.below(4) == 0 { " -}}" } else { "}}" });
    }
    input
}

#[test]
fn render_never_panics() {
    let user = IndexMap::from([("a".to_owned(), "x-y".to_owned())]);
    let env = BTreeMap::from([("HOME".to_owned(), "/h".to_owned())]);
    let data = BTreeMap::from([("Path".to_owned(), "/p".to_owned())]);
    let no_data = BTreeMap::new();
    let real = Volatile::Real {
        init_time: chrono::Utc
            .with_ymd_and_hms(2020, 2, 29, 23, 59, 59)
            .unwrap(),
    };
    let contexts = [
        (None, Some("amazon-ebs"), &data, &real),
        (Some(&env), None, &no_data, &Volatile::Placeholder),
        (None, Some("googlecompute"), &no_data, &real),
    ];
    let mut rng = Rng(0x1DEA_5EED_0000_0001);
    let mut evaluated = 0;
    for _ in 0..20_000 {
        let input = random_input(&mut rng);
        for &(env, build_type, data, volatile) in &contexts {
            let ctx = Context {
                user_variables: &user,
                env,
                build_name: Some("b"),
                build_type,
                template_dir: "/t",
                pwd: "/w",
                data,
                volatile,
            };
            match render(&input, &ctx) {
                Ok(_) if input.contains("{{") => evaluated += 1,
                Ok(_) => {}
                Err(e) => {
                    assert!(
                        e.offset <= input.len(),
                        "offset {} past the end of {input:?}",
                        e.offset
                    );
                    if e.kind != ErrorKind::Parse {
                        evaluated += 1;
                    }
                }
            }
        }
    }
    // The generator must reach the evaluator, not only the lexer's error paths.
    assert!(
        evaluated > 5_000,
        "only {evaluated} inputs reached the evaluator"
    );
}
