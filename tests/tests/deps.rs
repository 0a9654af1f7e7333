//! The build must work with `cargo` alone: rustls with ring only, no OpenSSL, no aws-lc (which
//! needs cmake and a C toolchain setup), and no system protoc.

#![allow(clippy::unwrap_used)]

#[test]
fn the_lockfile_has_no_openssl_aws_lc_or_protoc_wrappers() {
    let lock = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"),
    )
    .unwrap();
    let packages: Vec<&str> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|l| l.trim_end_matches('"'))
        .collect();
    assert!(
        packages.contains(&"ring") && packages.contains(&"rustls") && packages.contains(&"protox"),
        "the expected stack is there"
    );
    for banned in [
        "openssl",
        "openssl-sys",
        "native-tls",
        "aws-lc-rs",
        "aws-lc-sys",
        "protoc-bin-vendored",
        "protobuf-src",
    ] {
        assert!(!packages.contains(&banned), "{banned} is in Cargo.lock");
    }
}
