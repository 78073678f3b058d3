//! Runs the stages of a plan: one `histo` command line after another, each stage's output in
//! `RUN/logs/<stage>.log`, its state and wall time in `RUN/state.json` (so `--resume` skips
//! completed stages and re-enters an interrupted training with `--resume`), and every command
//! line in `RUN/commands.sh`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::machine;
use super::plan::{Cmd, Stage};

/// What became of a stage in this invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Ran to the end and wrote its outputs.
    Done,
    /// Started but did not finish (interrupted): `--resume` re-enters it.
    Started,
    /// A command failed, or the outputs were missing afterwards.
    Failed,
    /// Not run because a stage it needs did not complete.
    Blocked,
}

/// The record of one stage in `state.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageRecord {
    /// See [`Status`].
    pub status: Status,
    /// The command lines (without `--resume`): a resumed run reuses the stage only when they
    /// are unchanged.
    pub commands: Vec<String>,
    /// Wall time of each command, seconds (when it ran).
    #[serde(default)]
    pub command_wall_s: Vec<f64>,
    /// Wall time of the whole stage, seconds (summed over attempts when resumed).
    #[serde(default)]
    pub wall_s: f64,
    /// When it finished (UTC).
    #[serde(default)]
    pub finished: Option<String>,
    /// Why it failed or was blocked.
    #[serde(default)]
    pub reason: Option<String>,
    /// True when this invocation found it done and did not run it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
    /// The 1-minute load average when the stage ended (the machine may be shared).
    #[serde(default)]
    pub load_average: Option<f64>,
    /// Times the stage was re-entered with `--resume` after an interruption (the wall time of
    /// an attempt that was killed is not known and not counted).
    #[serde(default)]
    pub resumed: u32,
}

/// `RUN/state.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// The run's configuration (for the report; a resumed run compares command lines).
    pub config: serde_json::Value,
    /// Per stage id.
    pub stages: BTreeMap<String, StageRecord>,
    /// Every invocation of `cargo xtask reproduce` on this run folder.
    #[serde(default)]
    pub invocations: Vec<Invocation>,
}

/// One invocation (a run resumed twice has three).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Invocation {
    /// Start (UTC).
    pub started: String,
    /// Unix time of the start.
    pub started_unix: u64,
    /// Seconds from its first stage to its last.
    pub pipeline_s: f64,
    /// Seconds spent building `histo` first.
    pub build_s: Option<f64>,
}

impl State {
    /// Reads `state.json`, or an empty state when there is none.
    pub fn load(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Ok(Self::default());
        }
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a reproduce state file (delete the run folder or choose another --out)",
                path.display()
            )
        })
    }

    /// Writes `state.json` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self)?;
        fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// Executes stages in a run folder.
pub struct Runner {
    /// Working directory of every command (the workspace root): command lines are shown with
    /// paths relative to it, exactly as they are run.
    pub cwd: PathBuf,
    /// The run folder.
    pub run_dir: PathBuf,
    /// `--resume`: reuse stages recorded as done with identical command lines.
    pub resume: bool,
    /// The state, saved after every change.
    pub state: State,
    /// Stages reused or run so far, in order (for the progress counter).
    done_count: usize,
    total: usize,
}

impl Runner {
    /// Opens (or creates) the run folder's state.
    pub fn new(cwd: PathBuf, run_dir: PathBuf, resume: bool, total: usize) -> Result<Self> {
        fs::create_dir_all(run_dir.join("logs"))
            .with_context(|| format!("creating {}", run_dir.join("logs").display()))?;
        let state = State::load(&run_dir.join("state.json"))?;
        Ok(Self {
            cwd,
            run_dir,
            resume,
            state,
            done_count: 0,
            total,
        })
    }

    fn state_path(&self) -> PathBuf {
        self.run_dir.join("state.json")
    }

    /// Saves the state.
    pub fn save(&self) -> Result<()> {
        self.state.save(&self.state_path())
    }

    /// The log file of a stage.
    pub fn log_path(&self, stage: &Stage) -> PathBuf {
        self.run_dir
            .join("logs")
            .join(format!("{}.log", stage.id.replace('/', "_")))
    }

    /// Whether a stage is recorded as done (in this or an earlier invocation).
    pub fn is_done(&self, id: &str) -> bool {
        self.state
            .stages
            .get(id)
            .is_some_and(|r| r.status == Status::Done)
    }

    /// Records a stage as blocked by a dependency.
    pub fn block(&mut self, stage: &Stage, reason: String) -> Result<()> {
        self.done_count += 1;
        eprintln!(
            "[{:>2}/{}] {} — not run: {reason}",
            self.done_count, self.total, stage.label
        );
        self.state.stages.insert(
            stage.id.clone(),
            StageRecord {
                status: Status::Blocked,
                commands: stage.command_lines(false),
                command_wall_s: vec![],
                wall_s: 0.0,
                finished: None,
                reason: Some(reason),
                reused: false,
                load_average: None,
                resumed: 0,
            },
        );
        self.save()
    }

    /// Runs a stage (or reuses it under `--resume`); returns whether it is done.
    pub fn run(&mut self, stage: &Stage) -> Result<bool> {
        self.done_count += 1;
        let counter = format!("[{:>2}/{}]", self.done_count, self.total);
        let lines = stage.command_lines(false);
        let previous = self.state.stages.get(&stage.id).cloned();
        let same = previous.as_ref().is_some_and(|r| r.commands == lines);
        if self.resume
            && same
            && previous.as_ref().is_some_and(|r| r.status == Status::Done)
            && stage.outputs.iter().all(|p| self.cwd.join(p).exists())
        {
            eprintln!("{counter} {} — done earlier, reused", stage.label);
            if let Some(r) = self.state.stages.get_mut(&stage.id) {
                r.reused = true;
            }
            self.save()?;
            return Ok(true);
        }
        // Re-enter an interrupted training with its own `--resume`.
        let reenter = self.resume
            && same
            && previous
                .as_ref()
                .is_some_and(|r| matches!(r.status, Status::Started | Status::Failed))
            && stage.resumable.iter().any(|d| self.cwd.join(d).exists());
        let earlier_wall = if reenter {
            previous.as_ref().map_or(0.0, |r| r.wall_s)
        } else {
            0.0
        };
        eprintln!(
            "{counter} {}{}",
            stage.label,
            if reenter { " (resuming)" } else { "" }
        );
        let mut record = StageRecord {
            status: Status::Started,
            commands: lines.clone(),
            command_wall_s: vec![],
            wall_s: earlier_wall,
            finished: None,
            reason: None,
            reused: false,
            load_average: None,
            resumed: if reenter {
                previous.as_ref().map_or(0, |r| r.resumed) + 1
            } else {
                0
            },
        };
        self.state.stages.insert(stage.id.clone(), record.clone());
        self.save()?;

        let log_path = self.log_path(stage);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let start = Instant::now();
        let mut failure = None;
        for cmd in &stage.cmds {
            let t = Instant::now();
            if let Err(e) = self.exec(cmd, reenter, &mut log) {
                failure = Some(format!("{e:#}"));
                break;
            }
            record.command_wall_s.push(t.elapsed().as_secs_f64());
        }
        if failure.is_none() {
            let missing: Vec<String> = stage
                .outputs
                .iter()
                .filter(|p| !self.cwd.join(p).exists())
                .map(|p| p.display().to_string())
                .collect();
            if !missing.is_empty() {
                failure = Some(format!(
                    "the commands succeeded but did not write {}",
                    missing.join(", ")
                ));
            }
        }
        record.wall_s += start.elapsed().as_secs_f64();
        record.finished = Some(machine::utc_string(machine::unix_now()));
        record.load_average = machine::load_average();
        let ok = failure.is_none();
        if let Some(reason) = failure {
            record.status = Status::Failed;
            eprintln!(
                "        FAILED after {:.1} s: {reason}\n        last lines of {}:",
                record.wall_s,
                log_path.display()
            );
            for line in tail(&log_path, 25) {
                eprintln!("          | {line}");
            }
            record.reason = Some(reason);
        } else {
            record.status = Status::Done;
            eprintln!("        done in {:.1} s", record.wall_s);
        }
        self.state.stages.insert(stage.id.clone(), record);
        self.save()?;
        Ok(ok)
    }

    /// Runs one command, its output appended to the stage log.
    fn exec(&self, cmd: &Cmd, reenter: bool, log: &mut File) -> Result<()> {
        let mut args = cmd.args.clone();
        if reenter && cmd.resume_flag {
            args.push("--resume".into());
        }
        let line = cmd.display(reenter);
        writeln!(log, "$ {line}")?;
        log.flush()?;
        // Shared caches (the synthetic data) are written by one process at a time.
        let _lock = match &cmd.lock {
            Some(p) => {
                let p = self.cwd.join(p);
                if let Some(parent) = p.parent() {
                    fs::create_dir_all(parent)?;
                }
                let f = File::create(&p).with_context(|| format!("creating {}", p.display()))?;
                if f.try_lock().is_err() {
                    eprintln!(
                        "        waiting for {} (another process holds it)",
                        p.display()
                    );
                    f.lock()
                        .with_context(|| format!("locking {}", p.display()))?;
                }
                Some(f)
            }
            None => None,
        };
        let stdout = match &cmd.stdout_to {
            Some(p) => {
                let p = self.cwd.join(p);
                if let Some(parent) = p.parent() {
                    fs::create_dir_all(parent)?;
                }
                Stdio::from(File::create(&p).with_context(|| format!("creating {}", p.display()))?)
            }
            None => Stdio::from(log.try_clone()?),
        };
        let status = Command::new(&cmd.program)
            .args(&args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::from(log.try_clone()?))
            .status()
            .with_context(|| format!("cannot start `{}`", cmd.program.display()))?;
        writeln!(log, "# exit status: {status}")?;
        if !status.success() {
            bail!("`{line}` failed ({status})");
        }
        Ok(())
    }
}

/// The last `n` lines of a text file.
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(f) = File::open(path) else {
        return vec![];
    };
    let lines: Vec<String> = BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        // progress bars redraw with carriage returns: keep the last state of each line
        .map(|l| l.rsplit('\r').next().unwrap_or_default().to_string())
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}
