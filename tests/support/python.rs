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

/// Makes sure Python can import `module` (from the pip package `package`),
/// pip-installing it once per test binary when missing.
pub fn python_has(module: &str, package: &str) {
    static DONE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if done.iter().any(|m| m == module) {
        return;
    }
    let ok = Command::new("python3").args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
    if !ok {
        let pip = |extra: &[&str]| {
            Command::new("python3").args(["-m", "pip", "install", "-q"]).args(extra).arg(package).status()
        };
        let installed =
            pip(&[]).is_ok_and(|s| s.success()) || pip(&["--break-system-packages"]).is_ok_and(|s| s.success());
        assert!(installed, "pip install {package} failed");
    }
    done.push(module.to_owned());
}
