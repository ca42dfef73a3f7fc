//! Python peers: the packages the Python test clients import.

use std::process::Command;
use std::sync::Once;

/// Makes sure Python's `websockets` package (the WebSocket client of the
/// Python peers) is importable, pip-installing it once per test binary.
pub fn python_has_websockets() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let ok = Command::new("python3").args(["-c", "import websockets"]).status().is_ok_and(|s| s.success());
        if !ok {
            let s = Command::new("python3").args(["-m", "pip", "install", "-q", "websockets"]).status().unwrap();
            assert!(s.success(), "pip install websockets failed");
        }
    });
}

/// Makes sure Python's `requests` package (the HTTP client of the web
/// tests' Python peers) is importable, pip-installing it once per test binary.
pub fn python_has_requests() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let ok = Command::new("python3").args(["-c", "import requests"]).status().is_ok_and(|s| s.success());
        if !ok {
            let pip = |extra: &[&str]| {
                Command::new("python3").args(["-m", "pip", "install", "-q"]).args(extra).arg("requests").status()
            };
            // A system Python (Debian's) refuses plain `pip install` outside a venv.
            let ok =
                pip(&[]).is_ok_and(|s| s.success()) || pip(&["--break-system-packages"]).is_ok_and(|s| s.success());
            assert!(ok, "pip install requests failed");
        }
    });
}

/// Runs `script` with `python3 -c`, `args` as `sys.argv[1:]`; its stdout,
/// after asserting it succeeded (its stderr in the failure message).
pub fn run(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().expect("run python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python3 failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
