// Without a build script cargo would not unify the features of build dependencies through this crate.
fn main() {}
