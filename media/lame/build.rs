//! Links the system libmp3lame dynamically: LAME is LGPL, so it is never compiled into
//! our binary (Debian package `libmp3lame-dev`, installed by `make`).
fn main() {
    println!("cargo:rustc-link-lib=dylib=mp3lame");
}
