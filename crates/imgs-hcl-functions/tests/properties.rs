//! Properties over generated inputs: round trips of the encodings, idempotent conversions, and no
//! panic from any function on any arguments (every failure is an error value).

use std::path::{Path, PathBuf};

use hcl::expr::{FuncCall, FuncName};
use hcl::{Expression, Value};
use imgs_hcl_functions::{
    Host, TypeConstraint, context, convert, evaluate, function_names, printable,
};
use proptest::prelude::*;

struct NoHost;

impl Host for NoHost {
    fn working_dir(&self) -> PathBuf {
        PathBuf::from("/w")
    }
    fn base_dir(&self) -> PathBuf {
        PathBuf::from("/w")
    }
    fn read_file(&self, _: &Path) -> Result<Vec<u8>, String> {
        Ok(b"contents".to_vec())
    }
    fn is_file(&self, _: &Path) -> Result<bool, String> {
        Ok(true)
    }
    fn glob(&self, _: &Path, _: &str) -> Result<Vec<String>, String> {
        Ok(vec!["a".to_string()])
    }
    fn home_dir(&self) -> Option<PathBuf> {
        Some(PathBuf::from("/home/u"))
    }
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::UNIX_EPOCH
    }
    fn uuid_v4(&self) -> String {
        "00000000-0000-4000-8000-000000000000".to_string()
    }
}

fn call(name: &str, args: Vec<Value>) -> Result<Value, String> {
    let mut call = FuncCall::new(FuncName::new(name));
    call.args = args.into_iter().map(Expression::from).collect();
    evaluate(&Expression::from(call), &context(), &NoHost).map_err(|e| e.message)
}

/// Strings from the characters that steer the functions' parsers (format verbs, dates, CIDR
/// prefixes, durations, base64, JSON, YAML, CSV).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 %.:/,\\-+\\[\\]{}\"'#=*_~\\n]{0,16}",
        Just("10.0.0.0/8".to_string()),
        Just("::/0".to_string()),
        Just("ffff::/16".to_string()),
        Just("2006-01-02T15:04:05Z".to_string()),
        Just("%[2]d %-5.2f %q".to_string()),
        any::<String>(),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-300i64..300).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        prop_oneof![Just(1e300), Just(-1e300), Just(0.5), Just(129.0)].prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-c]{1,2}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Values JSON can carry back unchanged: finite numbers that are integers (floats may print
/// shorter than they parse) and any strings.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn no_function_panics(
        index in any::<prop::sample::Index>(),
        args in prop::collection::vec(value(), 0..4),
    ) {
        let names: Vec<&str> = function_names().filter(|n| *n != "bcrypt").collect();
        let name = names[index.index(names.len())];
        let _ = call(name, args);
    }

    #[test]
    fn no_cidr_or_format_call_panics(
        prefix in text(),
        numbers in prop::collection::vec(number(), 0..4),
        which in 0usize..5,
    ) {
        let name = ["cidrhost", "cidrsubnet", "cidrsubnets", "format", "formatdate"][which];
        let mut args = vec![Value::String(prefix)];
        args.extend(numbers);
        let _ = call(name, args);
    }

    #[test]
    fn base64_round_trips(s in any::<String>()) {
        let encoded = call("base64encode", vec![Value::String(s.clone())]).unwrap();
        prop_assert_eq!(call("base64decode", vec![encoded]), Ok(Value::String(s)));
    }

    #[test]
    fn json_round_trips(v in json_value()) {
        prop_assume!(!v.is_null());
        let encoded = call("jsonencode", vec![v.clone()]).unwrap();
        let decoded = call("jsondecode", vec![encoded]).unwrap();
        // Objects come back in sorted key order; the printed forms sort keys anyway.
        prop_assert_eq!(printable(&decoded), printable(&v));
    }

    #[test]
    fn conversion_is_idempotent(v in value(), which in 0usize..7) {
        let to = [
            TypeConstraint::String,
            TypeConstraint::Number,
            TypeConstraint::Bool,
            TypeConstraint::List(Box::new(TypeConstraint::String)),
            TypeConstraint::Set(Box::new(TypeConstraint::Any)),
            TypeConstraint::Map(Box::new(TypeConstraint::Any)),
            TypeConstraint::List(Box::new(TypeConstraint::Any)),
        ][which].clone();
        if let Ok(once) = convert(&v, &to) {
            prop_assert_eq!(convert(&once, &to), Ok(once));
        }
    }

    #[test]
    fn parseint_reads_what_format_writes(n in -(1i64 << 53)..(1i64 << 53), base in prop_oneof![Just(2), Just(8), Just(16)]) {
        let verb = match base { 2 => "%b", 8 => "%o", _ => "%x" };
        let text = call("format", vec![Value::from(verb), Value::from(n)]).unwrap();
        prop_assert_eq!(call("parseint", vec![text, Value::from(base)]), Ok(Value::from(n)));
    }
}
