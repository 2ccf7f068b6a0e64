//! Swagger UI for `/docs/`, pre-compressed at build time: the files it needs are taken from
//! the Swagger UI release vendored in the `utoipa-swagger-ui-vendored` crate (crates.io, so
//! nothing is downloaded), pointed at our `/openapi.json`, gzipped at the best level, and
//! listed in `$OUT_DIR/swagger_ui.rs` for `include_bytes!`. The binary carries ~0.5 MB
//! instead of the whole 11 MB distribution (source maps, ES bundles, uncompressed).

use std::error::Error;
use std::io::{Read, Write};
use std::path::PathBuf;

/// (file, content type). Everything `index.html` loads, plus the OAuth2 redirect page.
const FILES: &[(&str, &str)] = &[
    ("index.html", "text/html; charset=utf-8"),
    ("index.css", "text/css; charset=utf-8"),
    ("swagger-ui.css", "text/css; charset=utf-8"),
    ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    (
        "swagger-ui-standalone-preset.js",
        "text/javascript; charset=utf-8",
    ),
    ("swagger-initializer.js", "text/javascript; charset=utf-8"),
    ("oauth2-redirect.html", "text/html; charset=utf-8"),
    ("favicon-16x16.png", "image/png"),
    ("favicon-32x32.png", "image/png"),
];

/// The sample spec URL in the distribution's initializer, replaced by ours.
const SAMPLE_URL: &str = "https://petstore.swagger.io/v2/swagger.json";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    // `sqlx::migrate!` embeds the migration folders, but rustc does not know it read them:
    // without this a new migration file left the crate as it was, and the binary migrated
    // without it (found 2026-12-04: a built binary lacked a migration added after the last
    // build). A changed folder reruns this script, which rebuilds the crate.
    println!("cargo::rerun-if-changed=migrations");
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("swagger-ui");
    std::fs::create_dir_all(&out)?;
    let zip = std::io::Cursor::new(utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED);
    let mut archive = zip::ZipArchive::new(zip)?;
    let mut table = String::from("&[\n");
    for (name, content_type) in FILES {
        let index = (0..archive.len())
            .find(|i| {
                archive
                    .name_for_index(*i)
                    .and_then(|n| n.split_once('/'))
                    .is_some_and(|(_, rest)| rest == format!("dist/{name}"))
            })
            .ok_or_else(|| format!("{name} is not in the vendored Swagger UI"))?;
        let mut bytes = Vec::new();
        archive.by_index(index)?.read_to_end(&mut bytes)?;
        if *name == "swagger-initializer.js" {
            let js = String::from_utf8(bytes)?;
            if !js.contains(SAMPLE_URL) {
                return Err("the Swagger UI initializer no longer names its sample URL".into());
            }
            bytes = js.replace(SAMPLE_URL, "/openapi.json").into_bytes();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes)?;
        let path = out.join(format!("{name}.gz"));
        std::fs::write(&path, gz.finish()?)?;
        table.push_str(&format!(
            "    ({name:?}, {content_type:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    table.push(']');
    std::fs::write(
        PathBuf::from(std::env::var("OUT_DIR")?).join("swagger_ui.rs"),
        table,
    )?;
    Ok(())
}
