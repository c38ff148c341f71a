//! Formats the files named on the command line in place, as `packer fmt FILE` does, and names
//! those that do not parse (`ERR path`); `tests/against-packer.py` compares it with Packer.

fn main() {
    for path in std::env::args().skip(1) {
        let Ok(source) = std::fs::read_to_string(&path) else {
            println!("ERR {path}");
            continue;
        };
        match imgs_hcl_fmt::format(&source) {
            Ok(out) if out != source => {
                if let Err(e) = std::fs::write(&path, out) {
                    eprintln!("{path}: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => println!("ERR {path} {e}"),
        }
    }
}
