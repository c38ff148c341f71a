use std::process::Command;

use super::*;

fn never() -> bool {
    false
}

fn detected(output: &str, format: Option<&str>) -> String {
    let f = Format::detect(output, format);
    let archive = match f.archive {
        None => "-",
        Some(Archive::Tar) => "tar",
        Some(Archive::Zip) => "zip",
    };
    format!("{archive} + {}", f.compression())
}

#[test]
fn the_output_name_decides_the_format_as_in_packer() {
    let cases = [
        ("out/app.tar.gz", None),
        ("out/app.tgz", None),
        ("out/app.gz", None),
        ("out/disk.qcow2.gz", None),
        ("out/app.zip", None),
        ("out/app.tar.zip", None),
        ("out/app.zip.gz", None),
        ("out/app.tar", None),
        ("out/app.lz4", None),
        ("out/app.tar.lz4", None),
        ("out/app.bgzf", None),
        ("out/app.xz", None),
        ("out/app.qcow2", None),
        ("out/APP.TAR.GZ", None),
        ("./v1.2/app", None),
        ("packer_{{.BuildName}}_{{.BuilderType}}", None),
        ("out/app", Some("zip")),
        ("out/app.tar", Some("gz")),
    ];
    let table: Vec<String> = cases
        .iter()
        .map(|(output, format)| {
            let with = format.map(|f| format!(" (format {f})")).unwrap_or_default();
            format!("{output}{with} -> {}", detected(output, *format))
        })
        .collect();
    insta::assert_snapshot!(table.join("\n"), @r"
    out/app.tar.gz -> tar + gzip
    out/app.tgz -> tar + gzip
    out/app.gz -> - + gzip
    out/disk.qcow2.gz -> - + gzip
    out/app.zip -> zip + no compression
    out/app.tar.zip -> zip + no compression
    out/app.zip.gz -> - + gzip
    out/app.tar -> tar + no compression
    out/app.lz4 -> - + lz4
    out/app.tar.lz4 -> tar + lz4
    out/app.bgzf -> - + bgzf
    out/app.xz -> - + xz
    out/app.qcow2 -> tar + gzip
    out/APP.TAR.GZ -> tar + gzip
    ./v1.2/app -> tar + gzip
    packer_{{.BuildName}}_{{.BuilderType}} -> tar + gzip
    out/app (format zip) -> zip + no compression
    out/app.tar (format gz) -> tar + gzip
    ");
}

#[test]
fn compression_levels_settle_as_in_packer() {
    assert_eq!(level(0), Ok(None));
    assert_eq!(level(-1), Ok(None));
    assert_eq!(level(1), Ok(Some(1)));
    assert_eq!(level(9), Ok(Some(9)));
    assert_eq!(level(42), Ok(Some(9)));
    insta::assert_snapshot!(level(-2).unwrap_err(), @"not supported yet: compression_level -2 (Huffman-only compression)");
    insta::assert_snapshot!(level(-7).unwrap_err(), @"invalid compression_level -7: use an integer from -1 to 9");
}

/// A working directory with `out/a.txt` and `out/b.bin` (the second a few hundred KiB).
fn inputs() -> (tempfile::TempDir, Vec<PathBuf>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/a.txt"), "hello\n").unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 97) as u8).collect();
    std::fs::write(dir.path().join("out/b.bin"), &big).unwrap();
    (dir, vec!["out/a.txt".into(), "out/b.bin".into()], big)
}

fn run(dir: &Path, program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn compress(output: &str) -> Compress {
    Compress {
        format: Format::detect(output, None),
        level: None,
    }
}

#[test]
fn tar_gz_holds_each_file_by_its_name_alone() {
    let (dir, files, _) = inputs();
    let made = compress("dist/app.tar.gz")
        .write(Path::new("dist/app.tar.gz"), &files, dir.path(), &never)
        .unwrap();
    assert_eq!(made, PathBuf::from("dist/app.tar.gz"));
    if let Some(listing) = run(dir.path(), "tar", &["-tzf", "dist/app.tar.gz"]) {
        assert_eq!(listing, "a.txt\nb.bin\n");
    }
    run(dir.path(), "gzip", &["-t", "dist/app.tar.gz"]);
    // Only the archive is left in its directory: no temporary file.
    assert_eq!(
        std::fs::read_dir(dir.path().join("dist")).unwrap().count(),
        1
    );
}

#[test]
fn gz_compresses_one_file_and_levels_are_applied() {
    let (dir, files, big) = inputs();
    let one = &files[1..];
    let fast = Compress {
        level: Some(1),
        ..compress("b.gz")
    };
    fast.write(Path::new("fast.gz"), one, dir.path(), &never)
        .unwrap();
    let best = Compress {
        level: Some(9),
        ..compress("b.gz")
    };
    best.write(Path::new("best.gz"), one, dir.path(), &never)
        .unwrap();
    let size = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().len();
    assert!(size("best.gz") <= size("fast.gz"));
    let out = Command::new("gzip")
        .args(["-dc", "best.gz"])
        .current_dir(dir.path())
        .output();
    if let Ok(out) = out {
        assert_eq!(out.stdout, big);
    }
}

#[test]
fn zip_holds_each_file_by_its_path_as_written() {
    let (dir, files, _) = inputs();
    compress("app.zip")
        .write(Path::new("app.zip"), &files, dir.path(), &never)
        .unwrap();
    if let Some(listing) = run(dir.path(), "zipinfo", &["-1", "app.zip"]) {
        assert_eq!(listing, "out/a.txt\nout/b.bin\n");
    }
    run(dir.path(), "unzip", &["-tq", "app.zip"]);
}

#[test]
fn lz4_and_tar_lz4_are_lz4_frames() {
    let (dir, files, big) = inputs();
    compress("b.lz4")
        .write(Path::new("b.lz4"), &files[1..], dir.path(), &never)
        .unwrap();
    compress("app.tar.lz4")
        .write(Path::new("app.tar.lz4"), &files, dir.path(), &never)
        .unwrap();
    let mut decoded = Vec::new();
    lz4_flex::frame::FrameDecoder::new(File::open(dir.path().join("b.lz4")).unwrap())
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, big);
    if run(dir.path(), "lz4", &["-dqf", "app.tar.lz4", "app.tar"]).is_some() {
        assert_eq!(
            run(dir.path(), "tar", &["-tf", "app.tar"]).unwrap(),
            "a.txt\nb.bin\n"
        );
    }
}

#[test]
fn bgzf_is_gzip_in_blocks_with_an_end_marker() {
    let (dir, files, big) = inputs();
    compress("b.bgzf")
        .write(Path::new("b.bgzf"), &files[1..], dir.path(), &never)
        .unwrap();
    let bytes = std::fs::read(dir.path().join("b.bgzf")).unwrap();
    // 300,000 bytes make five blocks; each starts with the BGZF header, and the last is the marker.
    let blocks = bytes
        .windows(16)
        .filter(|w| w[..4] == [0x1f, 0x8b, 0x08, 0x04] && w[12..16] == [b'B', b'C', 2, 0])
        .count();
    assert_eq!(blocks, 5 + 1);
    assert!(bytes.ends_with(&bgzf_eof()));
    let mut decoded = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, big);
    run(dir.path(), "gzip", &["-t", "b.bgzf"]);
}

fn bgzf_eof() -> [u8; 28] {
    [
        0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 0x06, 0, b'B', b'C', 0x02, 0, 0x1b, 0, 0x03,
        0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]
}

#[test]
fn what_cannot_be_written_is_said_and_leaves_nothing() {
    let (dir, files, _) = inputs();
    let err = compress("many.gz")
        .write(Path::new("many.gz"), &files, dir.path(), &never)
        .unwrap_err();
    insta::assert_snapshot!(format!("{err}\nhint: {}", err.hint().unwrap()), @r"
    can only compress one file without tar or zip, but the artifact has 2: out/a.txt, out/b.bin
    hint: name the output `….tar.gz` (or `.zip`) to pack several files into one archive
    ");
    let err = compress("one.xz")
        .write(Path::new("one.xz"), &files[..1], dir.path(), &never)
        .unwrap_err();
    insta::assert_snapshot!(err, @"not supported yet: compress format xz");

    let missing = vec![PathBuf::from("out/a.txt"), PathBuf::from("out/gone.txt")];
    let err = compress("app.tar.gz")
        .write(Path::new("app.tar.gz"), &missing, dir.path(), &never)
        .unwrap_err();
    let text = err
        .to_string()
        .replace(&dir.path().display().to_string(), "[dir]");
    insta::assert_snapshot!(text, @"cannot read `[dir]/out/gone.txt`: No such file or directory (os error 2)");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["out"]);
}

#[test]
fn cancelling_stops_and_leaves_nothing() {
    let (dir, files, _) = inputs();
    let err = compress("app.tar.gz")
        .write(Path::new("app.tar.gz"), &files, dir.path(), &|| true)
        .unwrap_err();
    assert!(matches!(err, PostError::Cancelled), "{err}");
    assert!(!dir.path().join("app.tar.gz").exists());
}
