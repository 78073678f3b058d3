//! The `histo` binary's global behaviour: help, version, device errors, exit codes.

mod common;

use std::process::Command;

use common::*;

#[test]
fn help_lists_the_global_options() {
    let o = histo(&["--help"]);
    assert!(o.status.success());
    let t = text(&o);
    for opt in ["--log-level", "--device", "--seed", "info"] {
        assert!(t.contains(opt), "help lacks {opt}:\n{t}");
    }
}

#[test]
fn version_is_the_crate_version() {
    let o = histo(&["--version"]);
    assert!(o.status.success());
    assert!(text(&o).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn info_runs_on_the_cpu() {
    let o = histo(&["--device", "cpu", "info", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["device"], "Cpu");
    assert_eq!(v["seed"], 42);
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_on_a_cpu_build_exits_1_with_a_clear_message() {
    for args in [
        &["--device", "cuda", "info"][..],
        &["--device", "cuda:1"][..],
    ] {
        let o = histo(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("no CUDA support") && t.contains("--features cuda"),
            "{t}"
        );
        assert!(!t.contains("panicked"), "{t}");
    }
}

#[test]
fn bad_arguments_fail_cleanly() {
    let o = histo(&["--device", "tpu", "info"]);
    assert_eq!(o.status.code(), Some(2), "clap usage errors exit 2");
    assert!(text(&o).contains("unknown device `tpu`"));
    let o = histo(&["--log-level", "=[", "info"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("invalid --log-level"));
    let o = histo(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no subcommand"));
}

/// `histo … | head -c 1`: output to a pipe whose reader has gone ends quietly, without a panic.
#[cfg(unix)]
#[test]
fn closed_stdout_pipe_ends_quietly() {
    // The read end is closed before histo starts, so its first write fails with EPIPE.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_histo"))
        .args(["--device", "cpu", "info"])
        .stdout(writer)
        .output()
        .expect("histo runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "histo panicked: {err}");
}
