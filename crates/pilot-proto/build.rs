//! Compiles `proto/pilot/v1/*.proto` with protox (a pure-Rust protobuf compiler), so that
//! `cargo build` needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = ["pilot/v1/types.proto", "pilot/v1/hub.proto", "pilot/v1/node.proto"];
    let fds = protox::compile(files, [&root])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    for f in files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    Ok(())
}
