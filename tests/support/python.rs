//! Python peers: the packages the Python test clients import, and running a script.

use std::process::Command;
use std::sync::{Mutex, Once};

/// Makes sure Python's `module` is importable, pip-installing `package`
/// when it is not (at most once per test binary and module).
fn python_has(module: &str, package: &str, once: &Once) {
    // pip runs one at a time: two installs at once can break each other.
    static PIP: Mutex<()> = Mutex::new(());
    once.call_once(|| {
        let ok = Command::new("python3").args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
        if ok {
            return;
        }
        let _one = PIP.lock().unwrap_or_else(|e| e.into_inner());
        let pip = |extra: &[&str]| {
            Command::new("python3").args(["-m", "pip", "install", "-q"]).args(extra).arg(package).status()
        };
        // A system Python (Debian's) refuses plain `pip install` outside a venv.
        let ok = pip(&[]).is_ok_and(|s| s.success()) || pip(&["--break-system-packages"]).is_ok_and(|s| s.success());
        assert!(ok, "pip install {package} failed");
    });
}

/// Python's `websockets` package: the WebSocket client of the Python peers.
pub fn python_has_websockets() {
    static ONCE: Once = Once::new();
    python_has("websockets", "websockets", &ONCE);
}

/// Python's `requests` package: the HTTP client of the web tests' Python peers.
pub fn python_has_requests() {
    static ONCE: Once = Once::new();
    python_has("requests", "requests", &ONCE);
}

/// Python's `h2` package: the HTTP/2 peer of the HTTP/2 tests.
pub fn python_has_h2() {
    static ONCE: Once = Once::new();
    python_has("h2", "h2", &ONCE);
}

/// Runs `script` with `python3 -c`, `args` as `sys.argv[1:]`; its stdout,
/// after asserting it succeeded (its stderr in the failure message).
pub fn run(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().expect("run python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python3 failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
