//! Headless Chromium for the tests of the demo's pages: used when it is
//! installed (Debian's `chromium`), required when `.ci/run` sets
//! `GREENLOOP_REQUIRE_CHROMIUM` (it installs the package under CI).

use std::path::PathBuf;
use std::process::Command;

/// The browser, or `None` (after saying why the test is skipped) when it is
/// not installed and not required.
pub fn browser() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        let out = Command::new("which").arg(name).output().ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    });
    if found.is_none() {
        assert!(std::env::var_os("GREENLOOP_REQUIRE_CHROMIUM").is_none(), "chromium is required but missing");
        eprintln!("skipped: no chromium (apt-get install -y chromium)");
    }
    found
}

/// The DOM of `url` once loaded (after `virtual_time_ms` of the page's own
/// time, if given), from a fresh profile named by `tag` that is removed
/// afterwards. The flags keep Chromium off the network it would otherwise
/// reach for (updates, sync, first-run pages).
pub fn dump_dom(browser: &PathBuf, url: &str, virtual_time_ms: Option<u32>, tag: &str) -> String {
    dump_dom_with(browser, url, virtual_time_ms, tag, &[])
}

/// [`dump_dom`] with `extra` flags (`--ignore-certificate-errors` for a test
/// certificate, say).
pub fn dump_dom_with(browser: &PathBuf, url: &str, virtual_time_ms: Option<u32>, tag: &str, extra: &[&str]) -> String {
    let profile = std::env::temp_dir().join(format!("greenloop-chromium-{}-{tag}", std::process::id()));
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--no-first-run".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    if let Some(ms) = virtual_time_ms {
        args.push(format!("--virtual-time-budget={ms}"));
    }
    args.push("--dump-dom".to_owned());
    args.push(url.to_owned());
    let out = Command::new(browser).args(&args).output().expect("run chromium");
    let _ = std::fs::remove_dir_all(&profile);
    String::from_utf8_lossy(&out.stdout).into_owned()
}
